"""The Qt side of a qtinter loop: how Qt wakes asyncio up.

A :class:`QtDriver` belongs to one loop and one thread. It owns

* one ``QTimer`` (single shot, ``PreciseTimer``) armed for "run again on the next pass of Qt's loop"
  (zero interval) or for the deadline of the earliest asyncio timer,
* an I/O watcher: a ``QSocketNotifier`` on the selector's own file descriptor (epoll and kqueue
  descriptors are themselves pollable, and asyncio's self-pipe is registered in them, so
  ``call_soon_threadsafe`` and signal wake-ups make it readable too), or, for selectors without such a
  descriptor and for the Windows proactor, a helper thread that waits and posts an event to Qt
  (nothing, for a selector qtinter knows nothing about, such as a test's fake one);
* a QObject whose queued signal other threads emit to wake the loop (``call_soon_threadsafe``
  while Qt drives the loop: a shorter path than the self-pipe, and one that works for any loop).

They call the loop's pump from Qt's event loop. Nothing here runs asyncio code.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ._bindings import QtCore
from ._qt import enum_member, make_signal, once

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BlockingWaiter", "QtDriver"]

#: The longest the driver's timer is armed for (seconds): asyncio's own MAXIMUM_SELECT_TIMEOUT.
MAX_TIMER_DELAY = 24 * 3600.0


class BlockingWaiter:
    """How a helper thread waits for I/O when the loop's selector has no pollable descriptor.

    ``wait()`` blocks (in the helper thread) until I/O is ready, without consuming anything the
    loop's own non-blocking poll must still see; ``interrupt()`` (any thread) makes a pending
    ``wait()`` return soon; ``prepare()`` (loop thread) is called before each wait is requested.
    """

    def prepare(self) -> None:
        """Capture what to wait for (runs in the loop's thread, right before a wait is requested)."""

    def wait(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def interrupt(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@once
def _qobject_classes() -> tuple[Any, Any]:
    """``_Poster`` and ``_Waker``, defined on first use: qtinter picks the Qt binding only then."""

    class _Poster(QtCore.QObject):
        """Delivers "I/O is ready" from the helper thread to the loop's thread (queued connection)."""

        ready = make_signal()

    class _Waker(QtCore.QObject):
        """Carries a wake-up from another thread into the loop's thread (a queued connection)."""

        wake = make_signal()

    return _Poster, _Waker


def _queued() -> Any:
    return enum_member(QtCore.Qt, "ConnectionType", "QueuedConnection")


class _ThreadWatcher:
    """Waits for I/O in a helper thread; one wait per request; posts to Qt when it ends.

    While the loop is awake the helper must not be waiting: a descriptor it waits on stays open
    in the kernel until the wait returns (closing a listening socket would not refuse connections),
    and the registrations it watches may be stale. :meth:`halt` ends a wait before the loop runs.
    """

    def __init__(self, waiter: BlockingWaiter, on_ready: Callable[[], None]) -> None:
        self._waiter = waiter
        self._poster = _qobject_classes()[0]()
        self._poster.ready.connect(on_ready, _queued())
        self._cond = threading.Condition()
        self._requested = False
        self._waiting = False
        self._halted = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="qtinter-io-waiter", daemon=True)
        self._thread.start()

    def request_wait(self) -> None:
        """The loop sleeps: wait for its registrations as they are now (loop thread)."""
        self.halt()
        with self._cond:
            self._waiter.prepare()
            self._halted = False
            self._requested = True
            self._cond.notify_all()

    def halt(self) -> None:
        """The loop wakes up: end a pending wait and return once the helper has left it."""
        with self._cond:
            self._requested = False
            if not self._waiting:
                return
            self._halted = True
            self._waiter.interrupt()
            while self._waiting:
                if not self._cond.wait(1.0):
                    self._waiter.interrupt()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            if self._waiting:
                self._waiter.interrupt()
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._requested and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                self._requested = False
                self._waiting = True
            try:
                self._waiter.wait()
            finally:
                with self._cond:
                    self._waiting = False
                    post = not (self._halted or self._closing)
                    self._cond.notify_all()
            if post:
                self._poster.ready.emit()


def _closed(*_args: object) -> None:
    """What a closed driver calls: nothing (it keeps no reference to its loop)."""


class QtDriver:
    """The timer and I/O watcher that call ``on_wake`` from Qt's loop (see the module docstring)."""

    def __init__(
        self,
        on_wake: Callable[..., None],
        *,
        fd: int | None,
        waiter: BlockingWaiter | None,
        on_thread_wake: Callable[[], None] | None = None,
    ) -> None:
        self.thread_id = threading.get_ident()
        # Qt gives a thread an event dispatcher (needed by timers and notifiers) when its first
        # QEventLoop is created; a plain Python thread may not have one yet.
        self._dispatcher_anchor: Any = QtCore.QEventLoop()
        self._timer: Any = QtCore.QTimer()
        self._timer.setSingleShot(True)
        self._timer.setTimerType(enum_member(QtCore.Qt, "TimerType", "PreciseTimer"))
        self._timer.timeout.connect(self._on_timer)
        self._on_wake = on_wake
        #: The loop time the timer is armed for, or None when it is not armed.
        self._armed_at: float | None = None
        #: The asyncio timer deadline it was armed for by arm_for(), if any.
        self._armed_for: float | None = None
        self._notifier: Any = None
        self._watcher: _ThreadWatcher | None = None
        #: ``thread_waker.wake.emit()`` from any thread calls ``on_thread_wake`` in this one, through
        #: Qt's event queue. Emit through a reference to the object: a bound ``emit`` does not keep it
        #: alive, and emitting a deleted object's signal crashes PyQt.
        self.thread_waker: Any = None
        if on_thread_wake is not None:
            self.thread_waker = _qobject_classes()[1]()
            self.thread_waker.wake.connect(on_thread_wake, _queued())
        if fd is not None:
            self._notifier = QtCore.QSocketNotifier(fd, enum_member(QtCore.QSocketNotifier, "Type", "Read"))
            self._notifier.setEnabled(False)
            # (A no-argument Qt slot, sparing the conversion of activated's two arguments, made no
            # measurable difference to wake-up latency.)
            self._notifier.activated.connect(on_wake)
        elif waiter is not None:
            self._watcher = _ThreadWatcher(waiter, on_wake)
        # else: nothing can watch the loop's I/O (a fake selector): only the timer and threads wake it.

    # -- the timer --------------------------------------------------------------------------------
    def _on_timer(self) -> None:
        self._armed_at = None
        self._on_wake()

    def arm(self, now: float, delay: float) -> None:
        """Call ``on_wake`` after ``delay`` seconds (0: on the next pass of Qt's loop).

        Qt timers count whole milliseconds: the delay is rounded down, and the loop itself waits
        out the sub-millisecond rest (see the selector wrapper), so timers are as precise as asyncio's.
        """
        # Qt takes a 32-bit int: wake up at least daily (asyncio's own select limit) for far timers.
        msec = int(min(delay, MAX_TIMER_DELAY) * 1000.0) if delay > 0.0 else 0
        armed = self._armed_at
        if msec == 0 and armed is not None and armed <= now:
            return  # already armed for the next pass
        self._armed_at = now + msec / 1000.0
        self._armed_for = None
        self._timer.start(msec)

    def arm_for(self, now: float, when: float) -> None:
        """Call ``on_wake`` when the asyncio timer due at loop time ``when`` is (nearly) due.

        Re-arming for the same ``when`` while the timer is still armed for it does nothing, so a
        loop that wakes often for other reasons does not restart the timer every time.
        """
        if self._armed_for == when and self._armed_at is not None:
            return
        self.arm(now, when - now)
        self._armed_for = when

    def disarm(self) -> None:
        if self._armed_at is not None:
            self._armed_at = None
            self._timer.stop()

    # -- I/O ---------------------------------------------------------------------------------------
    def start_io(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(True)

    def stop_io(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)

    def set_io_blocked(self, blocked: bool) -> None:
        """Mute the notifier while a nested Qt loop runs inside an asyncio callback (it cannot be served)."""
        if self._notifier is not None:
            self._notifier.setEnabled(not blocked)

    def asleep(self) -> None:
        """The loop is logically blocked in select: a helper thread (if any) must wait for I/O now."""
        if self._watcher is not None:
            self._watcher.request_wait()

    def awake(self) -> None:
        """The loop runs (or stops): a helper thread (if any) must not be waiting."""
        if self._watcher is not None:
            self._watcher.halt()

    @property
    def needs_registration_hooks(self) -> bool:
        """True when selector changes made while asleep are not seen until the loop wakes up."""
        return self._watcher is not None

    def close(self, *, same_thread: bool) -> None:
        """Release the Qt objects. From another thread they are only scheduled for deletion."""
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        objects = [self._timer, self._notifier, self.thread_waker, self._dispatcher_anchor]
        try:
            if same_thread:
                self.disarm()
                if self._notifier is not None:
                    self._notifier.setEnabled(False)
            else:
                for obj in objects:
                    if obj is not None:
                        obj.deleteLater()
        except RuntimeError:
            # The C++ objects died with the QCoreApplication (PyQt: "wrapped C/C++ object ... has
            # been deleted", PySide: "Internal C++ object ... already deleted"): nothing to release.
            pass
        self._timer = self._notifier = self.thread_waker = self._dispatcher_anchor = None
        self._on_wake = _closed
