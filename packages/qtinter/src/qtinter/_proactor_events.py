"""Proactor-based qtinter loops (Windows). UNTESTED: no Windows machine runs this project's tests.

The proactor's completion port is not something Qt's poll can watch, so a helper thread waits on it
(see :class:`qtinter._windows_events.IocpWaiter`) and posts an event to Qt when a completion arrives.
While the pump runs, the loop's wait gate stands in for the proactor (asyncio's iteration calls
``self._selector.select()``, which is the proactor), as it does for a selector. Importing this
module needs nothing Windows-specific.
"""

from __future__ import annotations

from asyncio import proactor_events
from typing import TYPE_CHECKING, Any

from . import _compat
from ._base_events import QiBaseEventLoop, pollable_fd

if TYPE_CHECKING:
    from ._driver import BlockingWaiter

__all__ = ["QiBaseProactorEventLoop"]


class QiBaseProactorEventLoop(QiBaseEventLoop, proactor_events.BaseProactorEventLoop):
    """A qtinter loop on a proactor (Windows IOCP). Untested: see the module docstring."""

    if TYPE_CHECKING:
        _proactor: Any
        _self_reading_future: Any

    def _qi_guest_started(self) -> None:
        # What ProactorEventLoop.run_forever does before running (3.13 does it in
        # _run_forever_setup, which guest mode calls).
        if (
            not _compat.HAS_RUN_FOREVER_SETUP
            and getattr(self, "_self_reading_future", None) is None
            and hasattr(self, "_loop_self_reading")
        ):
            self.call_soon(self._loop_self_reading)

    def _qi_guest_stopped(self) -> None:
        # What ProactorEventLoop.run_forever does when it returns (3.13: _run_forever_cleanup).
        if _compat.HAS_RUN_FOREVER_SETUP:
            return
        future = getattr(self, "_self_reading_future", None)
        if future is not None:
            ov = getattr(future, "_ov", None)
            future.cancel()
            if ov is not None:
                self._proactor._unregister(ov)
            self._self_reading_future = None

    def _qi_wakeup_fd(self) -> int | None:
        return pollable_fd(getattr(self, "_csock", None))

    def _qi_keep_wakeup_fd(self) -> bool:
        # asyncio's ProactorEventLoop points the wake-up descriptor at its self-pipe for its whole life.
        return True

    def _qi_make_waiter(self, source: Any) -> BlockingWaiter | None:
        """A platform waiter for the proactor (Windows: :class:`qtinter._windows_events.IocpWaiter`)."""
        return None
