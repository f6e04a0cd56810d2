"""The qtinter loop for Unix (Linux, macOS): asyncio's Unix selector loop, hosted by Qt."""

from __future__ import annotations

import asyncio
import sys

from ._selector_events import QiBaseSelectorEventLoop

__all__ = ["QiSelectorEventLoop"]

if sys.platform == "win32":  # pragma: no cover
    raise ImportError("qtinter._unix_events is for Unix")


class QiSelectorEventLoop(QiBaseSelectorEventLoop, asyncio.SelectorEventLoop):
    """asyncio's Unix selector loop (signals, pipes, subprocesses) running inside Qt's loop."""

    def _qi_keep_wakeup_fd(self) -> bool:
        return bool(self._signal_handlers)  # type: ignore[attr-defined]

    def remove_signal_handler(self, sig: int) -> bool:
        removed = super().remove_signal_handler(sig)
        # asyncio clears the wake-up descriptor with its last handler; Qt-driven Ctrl+C still needs it
        # (and gives it back when the loop stops driving Qt).
        if self._qi.driving and self._qi.sigint.active:
            self._qi.sigint.reinstate()
        return removed
