"""The concrete loop classes of this platform and :func:`new_event_loop`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base_events import QiBaseEventLoop

__all__ = ["QiDefaultEventLoop", "QiSelectorEventLoop", "new_event_loop"]

if sys.platform == "win32":  # pragma: no cover - untested, see qtinter._windows_events
    from ._windows_events import QiProactorEventLoop, QiSelectorEventLoop

    QiDefaultEventLoop: type[QiBaseEventLoop] = QiProactorEventLoop
    __all__ += ["QiProactorEventLoop"]
else:
    from ._unix_events import QiSelectorEventLoop

    QiDefaultEventLoop = QiSelectorEventLoop


def new_event_loop() -> QiBaseEventLoop:
    """Create a qtinter event loop (this platform's default kind) in owner mode.

    Pass it as the loop factory of asyncio's runners::

        asyncio.run(main(), loop_factory=qtinter.new_event_loop)
    """
    return QiDefaultEventLoop()
