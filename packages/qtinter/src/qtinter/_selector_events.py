"""Selector-based qtinter loops (the default on Linux and macOS)."""

from __future__ import annotations

import select
import selectors
from asyncio import selector_events
from typing import Any

from ._base_events import QiBaseEventLoop, WaitGate
from ._driver import BlockingWaiter, QtDriver

__all__ = ["QiBaseSelectorEventLoop"]

_HAS_POLL = hasattr(select, "poll")


class _SelectorGate(WaitGate, selectors.BaseSelector):
    """The :class:`WaitGate` for a selector: a selector itself, delegating to the real one."""

    __slots__ = ()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.register(fileobj, events, data)  # type: ignore[no-any-return]

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.unregister(fileobj)  # type: ignore[no-any-return]

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.modify(fileobj, events, data)  # type: ignore[no-any-return]

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.get_key(fileobj)  # type: ignore[no-any-return]

    def get_map(self) -> Any:
        return self.inner.get_map()

    # select() and close() are WaitGate's (first in the MRO): no extra frame per iteration.


class _SnapshotSelectWaiter(BlockingWaiter):
    """For selectors without a pollable descriptor: ``select()`` on a snapshot of the registrations.

    Slow path (a helper thread; used by the Windows selector loop): a snapshot taken in the loop's
    thread, so the helper never touches the selector while the loop changes it.
    """

    def __init__(self, loop: QiBaseSelectorEventLoop) -> None:
        self._loop = loop
        self._snapshot: tuple[list[int], list[int]] = ([], [])

    def prepare(self) -> None:
        readers: list[int] = []
        writers: list[int] = []
        for key in self._loop._qi_gate.get_map().values():
            if key.events & selectors.EVENT_READ:
                readers.append(key.fd)
            if key.events & selectors.EVENT_WRITE:
                writers.append(key.fd)
        self._snapshot = (readers, writers)

    def wait(self) -> None:
        readers, writers = self._snapshot
        try:
            if _HAS_POLL:  # no FD_SETSIZE limit
                masks = dict.fromkeys(readers, select.POLLIN)
                for fd in writers:
                    masks[fd] = masks.get(fd, 0) | select.POLLOUT
                poller = select.poll()
                for fd, mask in masks.items():
                    poller.register(fd, mask)
                poller.poll()
            else:
                select.select(readers, writers, [], None)
        except (OSError, ValueError):
            pass  # a descriptor went away meanwhile: let the loop look

    def interrupt(self) -> None:
        self._loop._write_to_self()


class QiBaseSelectorEventLoop(QiBaseEventLoop, selector_events.BaseSelectorEventLoop):
    """A qtinter loop on a selector. Qt's poll watches the selector's descriptor (epoll, kqueue)."""

    _qi_gate: _SelectorGate

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        self._qi_gate = _SelectorGate(selectors.DefaultSelector() if selector is None else selector)
        super().__init__(self._qi_gate)

    def _qi_make_driver(self) -> QtDriver:
        inner = self._qi_gate.inner
        fileno = getattr(inner, "fileno", None)
        if fileno is not None:
            return QtDriver(self._qi_on_wake, fd=fileno(), waiter=None)
        return QtDriver(self._qi_on_wake, fd=None, waiter=_SnapshotSelectWaiter(self))
