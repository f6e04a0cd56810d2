"""Selector-based qtinter loops (the default on Linux and macOS)."""

from __future__ import annotations

import select
import selectors
from asyncio import events, selector_events
from typing import TYPE_CHECKING, Any, cast

from ._base_events import QiBaseEventLoop, WaitGate
from ._driver import BlockingWaiter, QtDriver

if TYPE_CHECKING:
    import contextvars
    from asyncio import Handle
    from collections.abc import Callable

    from typing_extensions import TypeVarTuple, Unpack

    _Ts = TypeVarTuple("_Ts")

__all__ = ["QiBaseSelectorEventLoop"]

_HAS_POLL = hasattr(select, "poll")

#: Newer CPythons (3.13.1+, 3.12.8+) create this handle in ``call_soon_threadsafe``; mirror them.
_ThreadSafeHandle: Any = getattr(events, "_ThreadSafeHandle", None)


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

    # select (an attribute) and close() are WaitGate's (first in the MRO).


class _SnapshotSelectWaiter(BlockingWaiter):
    """For selectors without a pollable descriptor: ``select()`` on a snapshot of the registrations.

    Slow path (a helper thread; used by the Windows selector loop): a snapshot taken in the loop's
    thread, so the helper never touches the selector while the loop changes it.
    """

    def __init__(self, loop: QiBaseSelectorEventLoop, selector: selectors.BaseSelector) -> None:
        self._loop = loop
        self._selector = selector
        self._snapshot: tuple[list[int], list[int]] = ([], [])

    def prepare(self) -> None:
        readers: list[int] = []
        writers: list[int] = []
        for key in self._selector.get_map().values():
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

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        gate = _SelectorGate(selectors.DefaultSelector() if selector is None else selector)
        super().__init__(gate)
        self._qi.gate = gate

    def call_soon_threadsafe(
        self,
        callback: Callable[[Unpack[_Ts]], object],
        *args: Unpack[_Ts],
        context: contextvars.Context | None = None,
    ) -> Handle:
        # asyncio writes one byte to the self-pipe per call: a syscall and a GIL round trip, which
        # dominate a burst of cross-thread calls. One pending byte is enough to wake the loop, which
        # then runs everything in _ready, so a burst costs one write and one wake-up.
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")  # type: ignore[attr-defined]
        if _ThreadSafeHandle is None:
            handle: Any = self._call_soon(callback, args, context)  # type: ignore[attr-defined]
        else:  # pragma: no cover - newer CPythons
            handle = _ThreadSafeHandle(callback, args, self, context)
            self._ready.append(handle)
            if handle._source_traceback:
                del handle._source_traceback[-1]
        if handle._source_traceback:
            del handle._source_traceback[-1]
        # The handle is in _ready before the flag is read (see _read_from_self).
        state = self._qi
        if not state.wake_pending:
            state.wake_pending = True
            # While Qt drives the loop, a queued Qt signal wakes it: Qt's own event queue reaches the
            # loop in fewer steps than the self-pipe's byte (Qt's poll, the notifier, asyncio's select
            # and the drain). Read after the flag is set (see _qi_end_driving).
            waker = state.thread_waker
            if waker is None:
                self._write_to_self()
            else:
                try:
                    waker.wake.emit()
                except RuntimeError:  # its C++ object is gone: the driver was closed meanwhile
                    self._write_to_self()
        return cast("Handle", handle)

    def _qi_on_thread_wake(self) -> None:
        # Cleared before the pump runs: a callback appended before this line runs now, and a caller
        # after it emits again. Nothing was written to the self-pipe, so nothing needs polling first.
        self._qi.wake_pending = False
        try:
            self._qi_pump(poll=False)
        except BaseException as exc:
            self._qi_fail(exc)

    def _qi_begin_driving(self) -> None:
        super()._qi_begin_driving()
        driver = self._qi.driver
        self._qi.thread_waker = driver.thread_waker if driver is not None else None

    def _qi_end_driving(self) -> None:
        state = self._qi
        state.thread_waker = None
        # A wake-up signalled but not delivered may never be (Qt's loop has ended): turn it into a
        # byte, or the flag would stay set and later calls would not wake a loop blocked in select.
        # (A caller that still saw the waker set the flag before this line reads it.)
        if state.wake_pending:
            self._write_to_self()
        super()._qi_end_driving()

    def _read_from_self(self) -> None:
        try:
            super()._read_from_self()  # type: ignore[misc]
        finally:
            # Only after the drain (clearing first could leave the flag set with an empty pipe).
            # A callback appended before this line is in _ready, which asyncio's iteration looks at
            # after processing events (the next select does not block while _ready is not empty);
            # a caller after this line sees False and writes.
            self._qi.wake_pending = False

    def _qi_make_driver(self) -> QtDriver:
        inner = self._qi.gate.inner
        fileno = getattr(inner, "fileno", None)
        if fileno is not None:
            return QtDriver(
                self._qi_on_wake, fd=fileno(), waiter=None, on_thread_wake=self._qi_on_thread_wake
            )
        return QtDriver(self._qi_on_wake, fd=None, waiter=_SnapshotSelectWaiter(self, inner))
