"""Proactor-based qtinter loops (Windows). UNTESTED: no Windows machine runs this project's tests.

The proactor's completion port is not something Qt's poll can watch, so a helper thread waits on it
(see :class:`qtinter._windows_events.IocpWaiter`) and posts an event to Qt when a completion arrives.
Importing this module needs nothing Windows-specific.
"""

from __future__ import annotations

from asyncio import proactor_events
from typing import TYPE_CHECKING, Any

from ._base_events import QiBaseEventLoop, WaitGate
from ._driver import BlockingWaiter, QtDriver

__all__ = ["QiBaseProactorEventLoop"]


class QiBaseProactorEventLoop(QiBaseEventLoop, proactor_events.BaseProactorEventLoop):
    """A qtinter loop on a proactor (Windows IOCP). Untested: see the module docstring."""

    if TYPE_CHECKING:
        _proactor: Any
        _self_reading_future: Any

    def __init__(self, proactor: Any) -> None:
        super().__init__(proactor)
        # _run_once waits through self._selector (the proactor); put the gate in between.
        self._qi.gate = WaitGate(self._proactor)
        self._selector = self._qi.gate

    def _qi_make_waiter(self) -> BlockingWaiter:
        raise NotImplementedError("a proactor loop needs a platform waiter")

    def _qi_make_driver(self) -> QtDriver:
        return QtDriver(self._qi_on_wake, fd=None, waiter=self._qi_make_waiter())

    def _qi_guest_started(self) -> None:
        # What ProactorEventLoop.run_forever does before running: read the self-pipe.
        if getattr(self, "_self_reading_future", None) is None and hasattr(self, "_loop_self_reading"):
            self.call_soon(self._loop_self_reading)

    def _qi_guest_stopped(self) -> None:
        # What ProactorEventLoop.run_forever does when it returns.
        future = getattr(self, "_self_reading_future", None)
        if future is not None:
            ov = getattr(future, "_ov", None)
            future.cancel()
            if ov is not None:
                self._proactor._unregister(ov)
            self._self_reading_future = None
