"""qtinter loops for Windows. UNTESTED: no Windows machine runs this project's tests.

* :class:`QiProactorEventLoop` (the default, like asyncio's): a helper thread waits on the I/O
  completion port, puts the completion back, and posts an event to Qt; the loop then collects it with
  a non-blocking poll.
* :class:`QiSelectorEventLoop`: ``select()`` has no pollable descriptor, so a helper thread waits on
  a snapshot of the registrations (see :mod:`qtinter._selector_events`).

On other platforms this module defines nothing.
"""

from __future__ import annotations

import sys

__all__ = ["IocpWaiter", "QiProactorEventLoop", "QiSelectorEventLoop"]

if sys.platform == "win32":  # pragma: no cover - untested
    import _overlapped
    import asyncio
    from typing import Any

    from ._driver import BlockingWaiter
    from ._proactor_events import QiBaseProactorEventLoop
    from ._selector_events import QiBaseSelectorEventLoop

    class IocpWaiter(BlockingWaiter):
        """Waits for a completion packet, then posts it back for the loop's own non-blocking poll.

        The proactor reads a completion's result from its OVERLAPPED structure, so re-posting the
        packet's (bytes, key, address) loses nothing.
        """

        def __init__(self, proactor: Any) -> None:
            self._iocp = proactor._iocp

        def wait(self) -> None:
            status = _overlapped.GetQueuedCompletionStatus(self._iocp, _overlapped.INFINITE)
            if status is not None:
                _err, transferred, key, address = status
                _overlapped.PostQueuedCompletionStatus(self._iocp, transferred, key, address)

        def interrupt(self) -> None:
            _overlapped.PostQueuedCompletionStatus(self._iocp, 0, 0, 0)

    class QiSelectorEventLoop(QiBaseSelectorEventLoop, asyncio.SelectorEventLoop):
        """asyncio's Windows selector loop running inside Qt's loop (helper-thread I/O wait)."""

    class QiProactorEventLoop(QiBaseProactorEventLoop, asyncio.ProactorEventLoop):
        """asyncio's Windows proactor loop running inside Qt's loop (helper-thread I/O wait)."""

        def __init__(self, proactor: Any = None) -> None:
            super().__init__(proactor)

        def _qi_make_waiter(self, source: Any) -> BlockingWaiter | None:
            return IocpWaiter(source)
