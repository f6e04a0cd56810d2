"""The Qt-hosting part of every qtinter event loop (:class:`QiBaseEventLoop`).

A qtinter loop is an asyncio loop whose iterations, in owner and guest mode, are driven by Qt's
event loop instead of by ``run_forever``'s ``while`` loop. :class:`QiBaseEventLoop` is a drop-in
replacement for ``asyncio.BaseEventLoop`` as a base class: any loop built on it (asyncio's selector
and proactor loops, a test loop with a fake selector and a virtual clock, a subclass that overrides
``_run_once``, ``_process_events``, ``_write_to_self`` or ``time()``) runs its own iterations, with
Qt deciding only *when*:

* :meth:`QiBaseEventLoop._qi_pump` is the only place that runs asyncio iterations for Qt. Each
  time Qt wakes it (I/O is ready, a timer is due, or more work is ready) it runs *many* iterations
  of the loop's own ``_run_once`` with a non-blocking select, until asyncio would wait or a time
  budget is used up, so a busy asyncio costs one Qt dispatch per few milliseconds, not one per
  iteration, and Qt is never starved for longer than the budget.
* :meth:`QiBaseEventLoop._qi_yield_to_qt` is the only place that hands control back to Qt: it arms
  the driver's timer for "again on the next pass" (work is ready) or for the next asyncio timer,
  and puts the loop *asleep* (logically blocked in select).
* The wait for I/O itself happens in one place too, the :class:`WaitGate`, which stands in for the
  loop's selector (or proactor) while the pump runs: while Qt drives the loop, ``select()`` never
  blocks for longer than the sub-millisecond rest of a timer; Qt's own poll watches the selector's
  descriptor instead (see :mod:`qtinter._driver`). Outside the pump ``loop._selector`` is the
  loop's own selector, as in asyncio.
* A loop that keeps its own time (``time()`` overridden: a virtual clock) waits as its selector
  decides: the gate passes timed waits through, since such a selector (a fake one that returns at
  once, or one that advances the virtual clock by the timeout) is what makes that time pass.

While the loop is asleep, Qt code may call into it (*interleaved code*, see the spec). Calls that
add work (``call_soon``, ``call_at``/``call_later``, ``stop``, and, for selectors watched by a
helper thread, new readers and writers) must wake it. The loop does that without costing anything
inside iterations: going asleep sets wake-up hooks as instance attributes, which shadow the class
methods; the first hooked call removes them and arms the zero timer once. Other threads wake the
loop through a queued Qt signal (``call_soon_threadsafe``), whatever the loop's self-pipe does.

All of qtinter's own state of a loop lives in one :class:`LoopState` object (``loop._qi``), which
keeps the loop within CPython's fast inline attribute layout. ``close()`` releases everything in it
that refers back to the loop, so a closed loop is freed by reference counting, as asyncio's is.
"""

from __future__ import annotations

import asyncio
import itertools
import selectors
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from . import _compat, _qt
from ._bindings import QtCore
from ._driver import QtDriver
from ._modes import QiLoopMode
from ._sigint import SigintGuard
from ._tasks import run_task_on

if TYPE_CHECKING:
    import collections
    import contextvars
    from collections.abc import Awaitable, Callable, Coroutine
    from contextvars import Context

    from typing_extensions import TypeVarTuple, Unpack

    from ._driver import BlockingWaiter

    _Ts = TypeVarTuple("_Ts")

__all__ = ["LoopState", "QiBaseEventLoop", "WaitGate"]

_T = TypeVar("_T")

#: How long one pump may run asyncio iterations before Qt gets its turn (seconds). Qt's own pass
#: comes on top: the sum must stay well below a 60 Hz frame (16 ms) even on a loaded machine.
PUMP_BUDGET = 0.004

#: Waits up to this long (seconds) happen in the selector itself, as in plain asyncio: Qt timers
#: count whole milliseconds, so this is how timers keep asyncio's sub-millisecond precision.
SPIN_LIMIT = 0.001

#: The clock of the pump's budget: real time, whatever the loop's own ``time()`` says.
clock: Callable[[], float] = time.monotonic

_STOCK_RUN_ONCE = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
_STOCK_TIME = asyncio.BaseEventLoop.time


def _no_events(timeout: float | None = None) -> list[Any]:
    """A select that reports nothing without polling (the pump's first iteration after a thread's wake-up)."""
    return []


class _Skipped:
    """Stands in for a callback that :meth:`~QiBaseEventLoop.exec_modal` moved to a later iteration."""

    __slots__ = ()
    _cancelled = True  # asyncio's iteration skips it


_SKIPPED = _Skipped()


class WaitGate(selectors.BaseSelector):
    """Stands in for the loop's selector (or proactor) while the pump runs: the one place it waits.

    ``select`` is an attribute, not a method: in driven iterations that start with callbacks ready
    (asyncio then polls without waiting) it is the wrapped selector's own ``select``, so those
    iterations pay no extra Python frame. For the other iterations the pump sets it to
    :meth:`gated_select`, where a wait longer than :data:`SPIN_LIMIT` becomes a non-blocking poll and
    :attr:`would_block` records that asyncio wanted to wait and nothing was ready: the pump then
    hands control back to Qt. Everything else goes to the wrapped object.
    """

    __slots__ = ("inner", "inner_select", "select", "would_block")

    def __init__(self) -> None:
        self.inner: Any = None
        #: Set when asyncio wanted to wait and nothing was ready, or when the pump must end after
        #: the current iteration for another reason (``exec_modal``, Ctrl+C).
        self.would_block = False
        self.inner_select: Callable[..., Any] = _no_events
        self.select: Callable[..., Any] = _no_events

    def gated_select(self, timeout: float | None = None) -> Any:
        if timeout is None or timeout > SPIN_LIMIT:
            events = self.inner.select(0)
            if not events:
                self.would_block = True
            return events
        return self.inner.select(timeout)

    def gated_select_own_clock(self, timeout: float | None = None) -> Any:
        """For loops with their own ``time()``: timed waits are the selector's, an endless one is Qt's."""
        if timeout is None:
            events = self.inner.select(0)
            if not events:
                self.would_block = True
            return events
        return self.inner.select(timeout)

    # The selector interface asyncio's I/O methods use during callbacks, delegated.
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

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # A proactor's methods, or whatever else the wrapped object offers.
        return getattr(self.inner, name)


def pollable_fd(obj: Any) -> int | None:
    """``obj.fileno()`` if ``obj`` has a real descriptor (an epoll or kqueue selector), else None."""
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fileno()
    except Exception:  # closed, unsupported, or not a real selector at all
        return None
    return fd if type(fd) is int and fd >= 0 else None


class LoopState:
    """Everything qtinter keeps about one loop, held by the loop in a single attribute (``loop._qi``).

    One attribute instead of some twenty of the loop's own keeps the loop fast: CPython (3.11+)
    stores an object's attributes inline, with specialized attribute and method loads, only while
    the instances of its class use at most 30 attribute names, and asyncio's loop already has 24.
    Past that limit every ``self._ready``, ``self.call_soon`` or ``loop.get_debug()`` in asyncio's
    own code takes the slower dictionary path (moving the state here made a ``call_soon`` chain,
    ``sleep(0)`` and ``Queue`` ping-pong 5-8% faster on 3.12).
    """

    __slots__ = (
        "active_hooks",
        "asleep",
        "driver",
        "driver_source",
        "driving",
        "exit_requested",
        "gate",
        "held",
        "hooks",
        "io_muted",
        "modal",
        "mode",
        "native_fallback",
        "own_clock",
        "owner_run",
        "pending_exc",
        "pumped",
        "pumping",
        "qloop",
        "qt_lost",
        "run_once",
        "run_token",
        "sigint",
        "thread_waker",
        "wake_pending",
    )

    def __init__(self) -> None:
        self.mode = QiLoopMode.OWNER
        self.driver: QtDriver | None = None
        #: What the driver watches (the selector or proactor it was made for).
        self.driver_source: Any = None
        self.driving = False  #: the driver may call the pump
        self.pumping = False  #: inside the pump's iterations
        self.pumped = False  #: the pump ran since owner mode started its QEventLoop
        self.asleep = False  #: the loop is logically blocked in select: wake-up hooks are installed
        self.io_muted = False  #: the I/O watcher is muted while a nested Qt loop runs in a callback
        self.own_clock = False  #: the loop's time() is not asyncio's (a virtual clock)
        self.qloop: Any = None  #: the QEventLoop of owner mode while it runs
        self.exit_requested = False  #: the loop itself ended owner mode's QEventLoop
        self.pending_exc: BaseException | None = None  #: escaped an iteration; re-raised to Qt's caller
        #: Why the last owner-mode run could not use Qt (no application, Qt refused or ended its
        #: loop), until a run succeeds: a further run Qt refuses then runs natively (the clean-up).
        self.qt_lost: str | None = None
        self.native_fallback = False  #: this run_forever runs natively because Qt is lost
        #: Inside run_forever: its first _run_once runs owner mode's QEventLoop (a loop driven by
        #: hand, with _run_forever_setup() and _run_once() calls, iterates as asyncio's does).
        self.owner_run = False
        #: The exec_modal() function waiting to run, and the callbacks it moved out of the iteration.
        self.modal: Callable[[], object] | None = None
        self.held: collections.deque[Any] | None = None
        self.sigint = SigintGuard()
        #: The wake-up hooks put on the loop while it is asleep: (name of the method, hook); made
        #: on first use, released by close().
        self.hooks: dict[str, Callable[..., Any]] = {}
        #: The hooks installed now (not those whose name the application had set on the loop).
        self.active_hooks: list[tuple[str, Callable[..., Any]]] = []
        #: Stands in for the selector or proactor while the pump runs.
        self.gate = WaitGate()
        #: The loop's own iteration (asyncio's ``_run_once``, or a subclass's override of it).
        self.run_once: Callable[[], None] = _not_initialised
        #: What ``run_forever``'s set-up returned (guest mode; see :mod:`qtinter._compat`).
        self.run_token: Any = None
        #: Selector loops: a wake-up byte is in the self-pipe (or being drained), so
        #: ``call_soon_threadsafe`` need not write another.
        self.wake_pending = False
        #: While Qt drives the loop: the driver's QObject whose queued signal other threads emit.
        self.thread_waker: Any = None

    def release(self) -> None:
        """Drop every reference back to the loop (close())."""
        self.hooks = {}
        self.active_hooks = []
        self.run_once = _not_initialised
        self.modal = None
        self.held = None
        self.pending_exc = None
        self.thread_waker = None
        self.driver = self.driver_source = None
        gate = self.gate
        gate.inner = None
        gate.inner_select = gate.select = _no_events


def _not_initialised() -> None:
    raise RuntimeError("the qtinter loop is not initialised or already closed")


class QiBaseEventLoop(asyncio.BaseEventLoop):
    """An asyncio event loop that runs inside Qt's event loop (owner and guest mode) or alone (native).

    A drop-in replacement for ``asyncio.BaseEventLoop`` as a base class. Concrete loops combine it
    with a stock asyncio loop: :class:`QiSelectorEventLoop`, :class:`QiProactorEventLoop` (Windows).
    Everything asyncio offers works unchanged; this class adds :meth:`set_mode`, :meth:`start`
    (guest mode), :meth:`run_task` and :meth:`exec_modal`.
    """

    if TYPE_CHECKING:
        # Private state of asyncio.BaseEventLoop this class works with (not in typeshed).
        _ready: collections.deque[asyncio.Handle]
        _scheduled: list[asyncio.TimerHandle]
        _stopping: bool
        _thread_id: int | None
        _debug: bool
        _selector: Any

        def _check_closed(self) -> None: ...
        def _check_running(self) -> None: ...
        def _write_to_self(self) -> None: ...
        def _check_callback(self, callback: Any, method: str) -> None: ...

    _qi: LoopState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._qi = LoopState()
        super().__init__(*args, **kwargs)
        # The iteration the pump runs: asyncio's own, or the override of a subclass (which reaches
        # asyncio's through this class's _run_once).
        if type(self)._run_once is QiBaseEventLoop._run_once:
            self._qi.run_once = _STOCK_RUN_ONCE.__get__(self)
        else:
            self._qi.run_once = self._run_once

    # -- subclass hooks ----------------------------------------------------------------------------
    def _qi_make_waiter(self, source: Any) -> BlockingWaiter | None:
        """How a helper thread waits for I/O on ``source`` when it has no pollable descriptor.

        None (the default): nothing watches its I/O while the loop sleeps; it is polled whenever
        the loop runs (a fake selector of a test loop, for example).
        """
        return None

    def _qi_wakeup_fd(self) -> int | None:
        """The descriptor a signal should wake the loop through (the selector loop's self-pipe)."""
        return None

    def _qi_keep_wakeup_fd(self) -> bool:
        """True when asyncio itself needs the signal wake-up descriptor (unix signal handlers)."""
        return False

    def _qi_guest_started(self) -> None:
        """Called when guest mode starts running (the proactor starts its self-reading here on 3.10-3.12)."""

    def _qi_guest_stopped(self) -> None:
        """Called when guest mode stops running."""

    # -- mode ----------------------------------------------------------------------------------------
    def set_mode(self, mode: QiLoopMode) -> None:
        """Set how the loop runs: :data:`QiLoopMode.OWNER`, ``GUEST`` or ``NATIVE``.

        :raises TypeError: ``mode`` is not a :class:`QiLoopMode`.
        :raises RuntimeError: the loop is closed, running, or a stop is pending.
        """
        if not isinstance(mode, QiLoopMode):
            raise TypeError(f"set_mode() expects a QiLoopMode (OWNER, GUEST or NATIVE), not {mode!r}")
        self._check_closed()
        if self.is_running():
            raise RuntimeError(
                f"cannot change the mode of a running event loop (it runs in {self._qi.mode.name} mode); "
                "stop it first"
            )
        if self._stopping:
            raise RuntimeError(
                "cannot change the mode of an event loop while a stop is pending: stop() was called "
                "while it was not running, so its next run ends after one iteration; run it first"
            )
        self._qi.mode = mode

    def get_mode(self) -> QiLoopMode:
        """The loop's current :class:`QiLoopMode`."""
        return self._qi.mode

    # -- running ---------------------------------------------------------------------------------
    def run_forever(self) -> None:
        """Run until :meth:`stop` is called: in owner mode inside a ``QEventLoop``, in native mode alone.

        :raises RuntimeError: the loop is closed, already running, in guest mode, or (owner mode) no
            QCoreApplication exists or Qt refuses to run an event loop.
        """
        self._qi_check_can_run()
        state = self._qi
        if state.mode is QiLoopMode.OWNER and state.qt_lost is not None and _qt.app_instance() is None:
            self._qi_fall_back_to_native()
        state.owner_run = True
        try:
            super().run_forever()
        finally:
            state.owner_run = False
            if state.native_fallback:
                state.native_fallback = False
                state.mode = QiLoopMode.OWNER

    def run_until_complete(self, future: Awaitable[_T]) -> _T:
        """Run until ``future`` is done (see :meth:`run_forever` for the modes and errors)."""
        # Check before asyncio wraps a coroutine in a task that would then never run (unless a
        # subclass gives guest mode a run_forever of its own, which then decides).
        self._qi_check_can_run(guest=type(self).run_forever is QiBaseEventLoop.run_forever)
        return super().run_until_complete(future)

    def _qi_check_can_run(self, *, guest: bool = True) -> None:
        self._check_closed()
        self._check_running()
        state = self._qi
        if state.mode is QiLoopMode.GUEST and guest:
            raise RuntimeError(
                "run_forever() and run_until_complete() are not available in guest mode: Qt's event loop "
                "runs a guest loop. Call loop.start() and run Qt's loop (app.exec()), e.g. with "
                "qtinter.using_asyncio_from_qt(); or set_mode(QiLoopMode.OWNER) to run it from asyncio"
            )
        if state.mode is QiLoopMode.OWNER and state.qt_lost is None:
            self._qi_check_can_host()

    def _qi_fall_back_to_native(self) -> None:
        """Run the rest of this run_forever natively: Qt is lost since an earlier run (the clean-up)."""
        self._qi.mode = QiLoopMode.NATIVE
        self._qi.native_fallback = True

    def _run_once(self) -> None:
        # The stock run_forever calls this. In owner mode its first call runs a whole QEventLoop,
        # which drives the loop's own iterations through the pump until stop() is called; the
        # pump's calls (and calls outside run_forever) are asyncio's iteration.
        state = self._qi
        if state.mode is QiLoopMode.OWNER and state.owner_run and not state.driving:
            self._qi_run_owner()
        else:
            super()._run_once()  # type: ignore[misc]

    def start(self) -> None:
        """Start the loop in guest mode: from now on Qt's event loop (``app.exec()``) runs it.

        Returns at once. :meth:`stop` ends it (after the current iteration), as it would end
        ``run_forever``. :func:`qtinter.using_asyncio_from_qt` calls this for you.

        :raises RuntimeError: not in guest mode, closed, already running, or no QCoreApplication.
        """
        state = self._qi
        if state.mode is not QiLoopMode.GUEST:
            raise RuntimeError(
                f"start() runs the loop in guest mode, but this loop is in {state.mode.name} mode: "
                "call loop.set_mode(QiLoopMode.GUEST) first, or use run_forever()/run_until_complete()"
            )
        self._check_closed()
        self._check_running()
        self._qi_check_can_host()
        state.run_token = _compat.run_forever_setup(self)
        try:
            self._qi_guest_started()
            self._qi_begin_driving()
        except BaseException:
            self._qi_finish_guest()
            raise

    def stop(self) -> None:
        """Stop the loop after the current iteration (asyncio's ``stop``).

        Called outside an iteration (from Qt code, or after Qt's loop returned) it wakes the loop
        for that iteration; in guest mode the iteration runs at once, so a guest loop is stopped
        when this returns (its thread's running loop, Qt timers and Ctrl+C handling released),
        whether or not Qt's loop runs again.
        """
        super().stop()
        state = self._qi
        if state.driving and not state.pumping and not self._qi_finish_stop_now():
            self._qi_interleaved_wake()

    def _qi_finish_stop_now(self) -> bool:
        """Guest mode, outside any iteration and task: run the final iteration of a pending stop now."""
        state = self._qi
        if (
            state.mode is QiLoopMode.GUEST
            and state.driving
            and not state.pumping
            and self._stopping
            and self._thread_id == threading.get_ident()
            and asyncio.current_task(self) is None
        ):
            self._qi_on_wake()
            return True
        return False

    def close(self) -> None:
        if self.is_running() and self._stopping:
            self._qi_finish_stop_now()
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        state = self._qi
        self._qi_unhook()
        driver, state.driver = state.driver, None
        if driver is not None:
            driver.close(same_thread=driver.thread_id == threading.get_ident())
        try:
            super().close()
        finally:
            if self.is_closed():
                state.release()

    # -- eager tasks and modal calls -----------------------------------------------------------------
    def run_task(
        self, coro: Coroutine[Any, Any, _T], *, name: str | None = None, context: Context | None = None
    ) -> asyncio.Task[_T]:
        """Create a task for ``coro`` and run its first step now, before returning.

        If a task is running when this is called, it is suspended during that step and resumed
        afterwards (see "Eager execution" in the docs). :func:`qtinter.run_task` does the same on
        the running loop.

        :raises RuntimeError: the loop is not running, or this is not the loop's thread.
        """
        return run_task_on(self, coro, name=name, context=context)

    def exec_modal(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` right after the current callback, with the loop logically asleep.

        While ``fn`` runs (typically a blocking Qt call such as ``dialog.exec()`` that runs a nested Qt
        event loop) the asyncio loop keeps running inside that nested loop, which it cannot do while
        a callback of it is still executing: the rest of the current iteration's callbacks run after
        ``fn``, in their order. A ``stop()`` later in the callback takes effect after ``fn``; if the
        callback raises ``SystemExit`` or ``KeyboardInterrupt``, ``fn`` runs the next time the loop
        runs. Exceptions from ``fn`` go to the loop's exception handler (``SystemExit`` and
        ``KeyboardInterrupt`` end the run).

        :raises RuntimeError: not called from a callback or task of this loop running in owner or
            guest mode, or another ``fn`` is still pending (at most one at a time).
        :raises TypeError: ``fn`` is not callable.
        """
        state = self._qi
        if not state.pumping or self._thread_id != threading.get_ident():
            raise RuntimeError(
                "exec_modal() must be called from a callback or task of a qtinter loop that runs in "
                "owner or guest mode"
            )
        if not callable(fn):
            raise TypeError(f"exec_modal() needs a callable, got {fn!r}")
        if state.modal is not None:
            raise RuntimeError(
                f"exec_modal(): {state.modal!r} is still waiting to run; a loop runs one modal function at a "
                "time: call exec_modal() again once it has run (qtinter.modal() queues for you)"
            )
        state.modal = fn
        state.gate.would_block = True  # the pump ends after this iteration
        ready: Any = self._ready
        if ready and state.held is None:
            # asyncio's iteration pops a fixed number of callbacks from the front of _ready: let it
            # pop placeholders instead, and give the callbacks back (in front) once it returned.
            state.held = ready.copy()
            count = len(ready)
            ready.clear()
            ready.extend(itertools.repeat(_SKIPPED, count))

    def _qi_restore_held(self) -> None:
        state = self._qi
        held, state.held = state.held, None
        if held is None:
            return
        ready: Any = self._ready
        while ready and ready[0] is _SKIPPED:
            ready.popleft()
        ready.extendleft(reversed(held))

    # -- owner mode ----------------------------------------------------------------------------------
    def _qi_run_owner(self) -> None:
        state = self._qi
        qloop = QtCore.QEventLoop()
        state.qloop = qloop
        state.exit_requested = False
        state.pumped = False
        try:
            self._qi_begin_driving()
            _qt.exec_event_loop(qloop)
        finally:
            self._qi_end_driving()
            state.qloop = None
        exc = state.pending_exc
        if exc is not None:
            state.pending_exc = None
            try:
                raise exc
            finally:
                exc = None
        if state.exit_requested:
            state.qt_lost = None
            return
        if not state.pumped:
            if state.qt_lost is not None:
                # Qt is still lost since a run that failed: run natively (the clean-up of
                # asyncio.run: the cancelled tasks' finally blocks, async generators, the executor).
                self._qi_fall_back_to_native()
                return
            state.qt_lost = "refused"
            self._stopping = True  # leave run_forever, which then resets the loop's state
            raise RuntimeError(
                "Qt refused to run an event loop for this qtinter loop (owner mode): "
                "QCoreApplication.exit()/quit() has been called, after which Qt runs no event loop "
                "until app.exec() is called again. Run clean-up code in native mode: "
                "loop.set_mode(qtinter.QiLoopMode.NATIVE)"
            )
        state.qt_lost = "ended"
        self._stopping = True
        raise RuntimeError(
            "the Qt event loop of this qtinter loop (owner mode) was ended from outside, by "
            "QCoreApplication.exit()/quit() or QThread.exit(); stop an asyncio loop with loop.stop(). "
            "Qt runs no event loop now: the loop's next runs (asyncio.run's clean-up: cancelling the "
            "tasks, whose finally blocks then run) run in native mode until Qt runs one again"
        )

    # -- guest mode ----------------------------------------------------------------------------------
    def _qi_finish_guest(self) -> None:
        state = self._qi
        self._qi_end_driving()
        try:
            self._qi_guest_stopped()
        finally:
            token, state.run_token = state.run_token, None
            _compat.run_forever_cleanup(self, token)

    def _qi_take_pending_exception(self) -> BaseException | None:
        """The exception that ended guest mode (KeyboardInterrupt, ...), once; for using_asyncio_from_qt."""
        exc, self._qi.pending_exc = self._qi.pending_exc, None
        return exc

    def _qi_stop_guest_now(self) -> None:
        """End guest mode at once (Qt's loop is over): what stop() does after the next iteration."""
        if self._qi.mode is QiLoopMode.GUEST and self.is_running() and not self._qi.pumping:
            self._qi_finish_guest()

    # -- driving ---------------------------------------------------------------------------------
    def _qi_check_can_host(self) -> None:
        if _qt.app_instance() is None:
            if self._qi.mode is QiLoopMode.OWNER:
                self._qi.qt_lost = "no application"
            raise RuntimeError(
                f"a qtinter loop in {self._qi.mode.name} mode needs a QCoreApplication: create the "
                "application (e.g. QApplication([])) before running the loop, or use QiLoopMode.NATIVE"
            )

    def _qi_ensure_driver(self) -> QtDriver:
        state = self._qi
        source = getattr(self, "_selector", None)
        driver = state.driver
        if driver is None or driver.thread_id != threading.get_ident() or state.driver_source is not source:
            if driver is not None:
                driver.close(same_thread=driver.thread_id == threading.get_ident())
            fd = pollable_fd(source)
            driver = state.driver = QtDriver(
                self._qi_on_wake,
                fd=fd,
                waiter=None if fd is not None else self._qi_make_waiter(source),
                on_thread_wake=self._qi_on_thread_wake,
            )
            state.driver_source = source
        return driver

    def _qi_begin_driving(self) -> None:
        state = self._qi
        driver = self._qi_ensure_driver()
        state.driving = True
        driver.start_io()
        driver.arm(self.time(), 0.0)
        state.thread_waker = driver.thread_waker
        state.sigint.install(state, self._qi_wakeup_fd())

    def _qi_end_driving(self) -> None:
        state = self._qi
        state.driving = False
        state.thread_waker = None
        self._qi_unhook()
        driver = state.driver
        if driver is not None:
            driver.disarm()
            driver.stop_io()
            driver.awake()
        state.sigint.restore(keep_own_fd=self._qi_keep_wakeup_fd())

    def _qi_on_wake(self, *_args: object) -> None:
        """Called by Qt (driver timer, I/O watcher). Nothing may escape into Qt: PyQt would abort."""
        try:
            self._qi_pump()
        except BaseException as exc:
            self._qi_fail(exc)

    def _qi_on_thread_wake(self) -> None:
        """Called by Qt when another thread woke the loop (``call_soon_threadsafe``)."""
        # Cleared before the pump runs: a callback appended before this line runs now, and a caller
        # after it emits again. Nothing was written to the self-pipe, so nothing needs polling first.
        self._qi.wake_pending = False
        try:
            self._qi_pump(poll=False)
        except BaseException as exc:
            self._qi_fail(exc)

    def _qi_fail(self, exc: BaseException) -> None:
        """An exception escaped asyncio's iteration: end the run and let the caller of Qt's loop see it."""
        state = self._qi
        if state.pending_exc is None:
            state.pending_exc = exc
        if state.mode is QiLoopMode.OWNER:
            state.driving = False
            state.exit_requested = True
            if state.qloop is not None:
                state.qloop.exit(1)
        elif self.is_running():
            self._qi_finish_guest()
            # Quit the Qt loop that runs this guest loop, so that the exception reaches its caller
            # (none runs when stop() finished the run after Qt's loop returned: quitting then would
            # make Qt refuse every event loop until the next app.exec()).
            if QtCore.QThread.currentThread().loopLevel() > 0:
                if threading.current_thread() is threading.main_thread():
                    QtCore.QCoreApplication.exit(1)
                else:
                    QtCore.QThread.currentThread().exit(1)

    def _qi_pump(self, poll: bool = True) -> None:
        """Run asyncio iterations until asyncio would wait or the budget is used (module docstring).

        ``poll=False``: the first iteration, if callbacks are ready, does not poll for I/O (a wake-up
        that came through Qt's own event queue, not the selector; the next iteration polls).
        """
        state = self._qi
        if not state.driving:
            return
        if state.pumping:
            # A nested Qt event loop runs inside an asyncio callback (e.g. dialog.exec() not wrapped
            # in qtinter.modal): asyncio cannot iterate until that callback returns. Mute the I/O
            # watcher so that Qt does not spin on it meanwhile.
            if not state.io_muted and state.driver is not None:
                state.io_muted = True
                state.driver.set_io_blocked(True)
            return
        if state.modal is not None and not self._qi_run_modal():
            return  # (left pending by an exception that ended the previous run)
        if state.asleep:
            self._qi_unhook()
            if state.driver is not None:
                state.driver.awake()
        sigint = state.sigint
        if sigint.take_pending():
            raise KeyboardInterrupt
        state.pumped = True
        gate = state.gate
        ready = self._ready
        run_once = state.run_once
        budget_clock = clock
        # The gate stands in for the loop's selector during the pump (the selector of the moment:
        # a subclass or a test may replace it between runs).
        selector = getattr(self, "_selector", None)
        if selector is not None:
            gate.inner = selector
            inner_select = gate.inner_select = selector.select
            state.own_clock = own_clock = getattr(self.time, "__func__", None) is not _STOCK_TIME
            gated_select = gate.gated_select_own_clock if own_clock else gate.gated_select
            self._selector = gate
        else:
            inner_select = gated_select = _no_events
        deadline = budget_clock() + PUMP_BUDGET
        state.pumping = True
        gate.would_block = False
        first_select = inner_select if poll else _no_events
        try:
            while True:
                # With callbacks ready asyncio polls without waiting: no gate needed.
                gate.select = first_select if ready else gated_select
                first_select = inner_select
                run_once()
                if gate.would_block or self._stopping:
                    break
                # The clock every iteration: one iteration can run many slow callbacks, and
                # reading it only every few iterations starved Qt (a 250 ms gap measured with
                # 40 ready 0.5 ms callbacks); a read costs well under 1% of an iteration.
                if budget_clock() >= deadline:
                    break
        finally:
            gate.select = gate.inner_select = _no_events
            if selector is not None and self._selector is gate:
                self._selector = selector
            state.pumping = False
            if state.held is not None:
                self._qi_restore_held()
            if state.io_muted:
                state.io_muted = False
                if state.driver is not None:
                    state.driver.set_io_blocked(False)
        if sigint.take_pending():
            raise KeyboardInterrupt
        if state.modal is not None:
            # It ran right after the callback that asked for it: the rest of that iteration (the
            # callbacks it held back) follows in the next one, which Qt runs; so does a stop().
            self._qi_run_modal()
            return
        if self._stopping:
            self._qi_on_stopping()
            return
        self._qi_yield_to_qt()

    def _qi_run_modal(self) -> bool:
        """Run the exec_modal() function; False when the loop stopped meanwhile."""
        state = self._qi
        fn, state.modal = state.modal, None
        self._qi_yield_to_qt()  # the loop is asleep while fn runs: nested Qt loops drive it
        try:
            fn()  # type: ignore[misc]
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.call_exception_handler(
                {"message": f"Exception in modal function {fn!r}", "exception": exc, "loop": self}
            )
        return state.driving

    def _qi_on_stopping(self) -> None:
        state = self._qi
        if state.mode is QiLoopMode.OWNER:
            state.driving = False
            state.exit_requested = True
            if state.qloop is not None:
                state.qloop.exit(0)
        else:
            self._qi_finish_guest()

    def _qi_yield_to_qt(self) -> None:
        """Hand control back to Qt: the one place that decides when asyncio runs next."""
        state = self._qi
        driver = state.driver
        if driver is None or not state.driving:
            return
        now = self.time()
        if self._ready or self._stopping:
            driver.arm(now, 0.0)
            return
        scheduled = self._scheduled
        if scheduled:
            if state.own_clock:
                # The loop's time is not Qt's: its selector decides how the wait passes; come back
                # on the next pass of Qt's loop (asyncio itself would be calling select again).
                driver.arm(now, 0.0)
                return
            driver.arm_for(now, scheduled[0].when())
        else:
            driver.disarm()
        self._qi_hook()
        driver.asleep()

    # -- other threads -------------------------------------------------------------------------------
    def call_soon_threadsafe(
        self,
        callback: Callable[[Unpack[_Ts]], object],
        *args: Unpack[_Ts],
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = super().call_soon_threadsafe(callback, *args, context=context)
        traceback = handle._source_traceback  # type: ignore[attr-defined]
        if traceback:
            del traceback[-1]
        # asyncio woke the loop through _write_to_self(); while Qt drives the loop (whose self-pipe,
        # if any, Qt may not be watching), a queued Qt signal wakes it.
        self._qi_wake_from_thread()
        return handle

    def _qi_wake_from_thread(self) -> None:
        waker = self._qi.thread_waker
        if waker is not None:
            try:
                waker.wake.emit()
            except RuntimeError:  # its C++ object is gone: the driver was closed meanwhile
                pass

    # -- interleaved code --------------------------------------------------------------------------
    def _qi_make_hook(self, name: str) -> Callable[..., Any]:
        method = getattr(type(self), name)  # what the hook shadows (see _qi_hook)

        def hook(*args: Any, **kwargs: Any) -> Any:
            self._qi_interleaved_wake()
            return method(self, *args, **kwargs)

        hook.__name__ = hook.__qualname__ = name
        return hook

    def _qi_hook(self) -> None:
        # The hooks become instance attributes through setattr(), never through self.__dict__: on
        # CPython 3.11 and 3.12 reading __dict__ turns the inline attribute storage into a real
        # dictionary for good, which slows every attribute access of the loop (asyncio's included).
        state = self._qi
        if state.asleep:
            return
        state.asleep = True
        names: tuple[str, ...] = ("call_soon", "call_at")
        driver = state.driver
        if driver is not None and driver.needs_registration_hooks:
            names += ("_add_reader", "_add_writer")
        cls = type(self)
        hooks = state.hooks
        active = state.active_hooks
        for name in names:
            # Never shadow what the application put on the instance: hook only where the class's
            # method shows through.
            if getattr(getattr(self, name, None), "__func__", None) is getattr(cls, name, None):
                hook = hooks.get(name)
                if hook is None:
                    hook = hooks[name] = self._qi_make_hook(name)
                setattr(self, name, hook)
                active.append((name, hook))

    def _qi_unhook(self) -> None:
        state = self._qi
        if not state.asleep:
            return
        state.asleep = False
        active = state.active_hooks
        for name, hook in active:
            if getattr(self, name, None) is hook:
                delattr(self, name)
        active.clear()

    def _qi_interleaved_wake(self) -> None:
        if threading.get_ident() != self._thread_id:
            self._qi_wake_from_thread()  # misuse from another thread: wake it as a thread would
            return
        self._qi_unhook()
        state = self._qi
        driver = state.driver
        if state.driving and driver is not None:
            driver.arm(self.time(), 0.0)
