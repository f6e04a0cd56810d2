"""Selector-based qtinter loops (the default on Linux and macOS)."""

from __future__ import annotations

import select
import selectors
from asyncio import selector_events
from typing import TYPE_CHECKING, Any, cast

from . import _compat
from ._base_events import QiBaseEventLoop, pollable_fd
from ._driver import BlockingWaiter

if TYPE_CHECKING:
    import contextvars
    from asyncio import Handle
    from collections.abc import Callable

    from typing_extensions import TypeVarTuple, Unpack

    _Ts = TypeVarTuple("_Ts")

__all__ = ["QiBaseSelectorEventLoop"]

_HAS_POLL = hasattr(select, "poll")


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
        # A byte in the loop's self-pipe, which the snapshot always contains (not _write_to_self(),
        # which a subclass may have made a no-op).
        csock = self._loop._csock
        if csock is not None:
            try:
                csock.send(b"\0")
            except OSError:
                pass


class QiBaseSelectorEventLoop(QiBaseEventLoop, selector_events.BaseSelectorEventLoop):
    """A qtinter loop on a selector. Qt's poll watches the selector's descriptor (epoll, kqueue)."""

    if TYPE_CHECKING:
        _csock: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The coalescing call_soon_threadsafe below skips _write_to_self() while Qt drives the loop:
        # a subclass that gives _write_to_self() a meaning of its own gets asyncio's behaviour.
        if (
            cls._write_to_self is not selector_events.BaseSelectorEventLoop._write_to_self  # type: ignore[attr-defined]
            and "call_soon_threadsafe" not in cls.__dict__
        ):
            cls.call_soon_threadsafe = QiBaseEventLoop.call_soon_threadsafe  # type: ignore[method-assign]

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
            self._check_callback(callback, "call_soon_threadsafe")
        if _compat.ThreadSafeHandle is None:
            handle: Any = self._call_soon(callback, args, context)  # type: ignore[attr-defined]
        else:  # pragma: no cover - newer CPythons
            handle = _compat.ThreadSafeHandle(callback, args, self, context)
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

    def _qi_wakeup_fd(self) -> int | None:
        return pollable_fd(getattr(self, "_csock", None))

    def _qi_make_waiter(self, source: Any) -> BlockingWaiter | None:
        # Real selectors without a pollable descriptor (select(), poll(); the Windows default):
        # a helper thread waits on a snapshot of the registrations. Any other object (a test's
        # fake selector) is polled whenever the loop runs.
        if (
            isinstance(source, (selectors.SelectSelector, selectors.PollSelector))
            and pollable_fd(getattr(self, "_csock", None)) is not None
        ):
            return _SnapshotSelectWaiter(self, source)
        return None
