"""The Qt-hosting part of every qtinter event loop (:class:`QiBaseEventLoop`).

A qtinter loop is a stock asyncio loop (selector or proactor) whose iterations, in owner and guest
mode, are driven by Qt's event loop instead of by ``run_forever``'s ``while`` loop:

* :meth:`QiBaseEventLoop._qi_pump` is the only place that runs asyncio iterations for Qt. Each
  time Qt wakes it (I/O is ready, a timer is due, or more work is ready) it runs *many* iterations
  of asyncio's own ``_run_once`` with a non-blocking select, until asyncio would wait or a time
  budget is used up, so a busy asyncio costs one Qt dispatch per few milliseconds, not one per
  iteration, and Qt is never starved for longer than the budget.
* :meth:`QiBaseEventLoop._qi_yield_to_qt` is the only place that hands control back to Qt: it arms
  the driver's timer for "again on the next pass" (work is ready) or for the next asyncio timer,
  and puts the loop *asleep* (logically blocked in select).
* The wait for I/O itself happens in one place too, the :class:`WaitGate` around the selector (or
  proactor): while Qt drives the loop, its ``select()`` never blocks for longer than the
  sub-millisecond rest of a timer; Qt's own poll watches the selector's descriptor instead
  (see :mod:`qtinter._driver`).

While the loop is asleep, Qt code may call into it (*interleaved code*, see the spec). Calls that
add work (``call_soon``, ``call_at``/``call_later``, ``stop``, and, for selectors watched by a
helper thread, new readers and writers) must wake it. The loop does that without costing anything
inside iterations: going asleep sets wake-up hooks as instance attributes, which shadow the class
methods; the first hooked call removes them and arms the zero timer once.

All of qtinter's own state of a loop lives in one :class:`LoopState` object (``loop._qi``), which
keeps the loop within CPython's fast inline attribute layout.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
from asyncio import events
from typing import TYPE_CHECKING, Any, TypeVar

from . import _qt
from ._bindings import QtCore
from ._modes import QiLoopMode
from ._sigint import SigintGuard
from ._tasks import run_task_on

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from contextvars import Context

    from ._driver import QtDriver

__all__ = ["LoopState", "QiBaseEventLoop", "WaitGate"]

_T = TypeVar("_T")

#: How long one pump may run asyncio iterations before Qt gets its turn (seconds). Qt's own pass
#: comes on top: the sum must stay well below a 60 Hz frame (16 ms) even on a loaded machine.
PUMP_BUDGET = 0.004

#: Waits up to this long (seconds) happen in the selector itself, as in plain asyncio: Qt timers
#: count whole milliseconds, so this is how timers keep asyncio's sub-millisecond precision.
SPIN_LIMIT = 0.001


class WaitGate:
    """Wraps the loop's selector (or proactor): the one place where the loop waits for I/O.

    ``select`` is an attribute, not a method: outside Qt-driven iterations, and in driven iterations
    that start with callbacks ready (asyncio then polls without waiting), it is the wrapped selector's
    own ``select``, so those iterations pay no extra Python frame. For the other driven iterations the
    pump sets it to :meth:`gated_select`, where a wait longer than :data:`SPIN_LIMIT` becomes a
    non-blocking poll and :attr:`would_block` records that asyncio wanted to wait and nothing was
    ready: the pump then hands control back to Qt.
    """

    __slots__ = ("gated", "inner", "inner_select", "select", "would_block")

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.would_block = False
        self.inner_select: Callable[..., Any] = getattr(inner, "select", None) or self.gated_select
        self.gated: Callable[..., Any] = self.gated_select  # bound once: the pump swaps it in often
        self.select: Callable[..., Any] = self.inner_select

    def gated_select(self, timeout: float | None = None) -> Any:
        if timeout is None or timeout > SPIN_LIMIT:
            events = self.inner.select(0)
            if not events:
                self.would_block = True
            return events
        return self.inner.select(timeout)

    def close(self) -> None:
        self.inner.close()


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
        "driving",
        "exit_requested",
        "gate",
        "hooks",
        "io_muted",
        "modal_queue",
        "mode",
        "old_agen_hooks",
        "pending_exc",
        "pumped",
        "pumping",
        "qloop",
        "refused",
        "registration_hooks",
        "sigint",
        "stock_run_once",
        "thread_waker",
        "wake_pending",
    )

    def __init__(self, loop: QiBaseEventLoop) -> None:
        self.mode = QiLoopMode.OWNER
        self.driver: QtDriver | None = None
        self.driving = False  #: the driver may call the pump
        self.pumping = False  #: inside the pump's iterations
        self.pumped = False  #: the pump ran since owner mode started its QEventLoop
        self.asleep = False  #: the loop is logically blocked in select: wake-up hooks are installed
        self.io_muted = False  #: the I/O watcher is muted while a nested Qt loop runs in a callback
        self.qloop: Any = None  #: the QEventLoop of owner mode while it runs
        self.exit_requested = False  #: the loop itself ended owner mode's QEventLoop
        self.pending_exc: BaseException | None = None  #: escaped an iteration; re-raised to Qt's caller
        self.refused = False  #: owner mode was refused for want of a QCoreApplication
        self.modal_queue: collections.deque[Callable[[], object]] = collections.deque()
        self.old_agen_hooks: Any = None  #: sys.get_asyncgen_hooks() before guest mode started
        self.sigint = SigintGuard(lambda: self.pumping, loop._qi_keep_wakeup_fd)
        #: The wake-up hooks put on the loop while it is asleep: (name of the method, hook).
        self.hooks: tuple[tuple[str, Callable[..., Any]], ...] = tuple(
            (name, loop._qi_make_hook(name)) for name in ("call_soon", "call_at")
        )
        #: Added to :attr:`hooks` when a helper thread watches a snapshot of the registrations.
        self.registration_hooks: tuple[tuple[str, Callable[..., Any]], ...] = tuple(
            (name, loop._qi_make_hook(name)) for name in ("_add_reader", "_add_writer")
        )
        #: The hooks installed now (not those whose name the application had set on the loop).
        self.active_hooks: list[tuple[str, Callable[..., Any]]] = []
        #: The wait gate around the selector or proactor (set by the concrete loop class).
        self.gate = WaitGate(None)
        #: asyncio's own ``_run_once`` (set once the loop is initialised).
        self.stock_run_once: Callable[[], None] = _not_initialised
        #: Selector loops: a wake-up byte is in the self-pipe (or being drained), so
        #: ``call_soon_threadsafe`` need not write another.
        self.wake_pending = False
        #: Selector loops, while Qt drives the loop: the driver's QObject whose queued signal
        #: ``call_soon_threadsafe`` emits instead of writing to the self-pipe.
        self.thread_waker: Any = None


def _no_events(timeout: float | None = None) -> list[Any]:
    """A select that reports nothing without polling (the pump's first iteration after a thread's wake-up)."""
    return []


def _not_initialised() -> None:
    raise RuntimeError("the qtinter loop is not initialised")


class QiBaseEventLoop(asyncio.BaseEventLoop):
    """An asyncio event loop that runs inside Qt's event loop (owner and guest mode) or alone (native).

    Concrete loops combine this class with a stock asyncio loop: :class:`QiSelectorEventLoop`,
    :class:`QiProactorEventLoop` (Windows). Everything asyncio offers works unchanged; this class adds
    :meth:`set_mode`, :meth:`start` (guest mode), :meth:`run_task` and :meth:`exec_modal`.
    """

    if TYPE_CHECKING:
        # Private state of asyncio.BaseEventLoop this class works with (not in typeshed).
        _ready: collections.deque[asyncio.Handle]
        _scheduled: list[asyncio.TimerHandle]
        _stopping: bool
        _thread_id: int | None
        _debug: bool
        _csock: Any

        def _check_closed(self) -> None: ...
        def _check_running(self) -> None: ...
        def _set_coroutine_origin_tracking(self, enabled: bool) -> None: ...
        def _asyncgen_firstiter_hook(self, agen: Any) -> None: ...
        def _asyncgen_finalizer_hook(self, agen: Any) -> None: ...
        def _write_to_self(self) -> None: ...

    _qi: LoopState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._qi = LoopState(self)
        super().__init__(*args, **kwargs)
        # asyncio's own iteration, bypassing this class's owner-mode _run_once.
        self._qi.stock_run_once = super()._run_once  # type: ignore[misc]

    # -- subclass hooks ----------------------------------------------------------------------------
    def _qi_make_driver(self) -> QtDriver:
        """Create the Qt driver for the current thread (selector and proactor loops override this)."""
        raise NotImplementedError

    def _qi_keep_wakeup_fd(self) -> bool:
        """True when asyncio itself needs the signal wake-up descriptor (unix signal handlers)."""
        return False

    def _qi_guest_started(self) -> None:
        """Called when guest mode starts running (the proactor starts its self-reading here)."""

    def _qi_guest_stopped(self) -> None:
        """Called when guest mode stops running."""

    # -- mode ----------------------------------------------------------------------------------------
    def set_mode(self, mode: QiLoopMode) -> None:
        """Set how the loop runs: :data:`QiLoopMode.OWNER`, ``GUEST`` or ``NATIVE``.

        :raises TypeError: ``mode`` is not a :class:`QiLoopMode`.
        :raises RuntimeError: the loop is running.
        """
        if not isinstance(mode, QiLoopMode):
            raise TypeError(f"set_mode() expects a QiLoopMode (OWNER, GUEST or NATIVE), not {mode!r}")
        if self.is_running():
            raise RuntimeError(
                f"cannot change the mode of a running event loop (it runs in {self._qi.mode.name} mode); "
                "stop it first"
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
        super().run_forever()

    def run_until_complete(self, future: Awaitable[_T]) -> _T:
        """Run until ``future`` is done (see :meth:`run_forever` for the modes and errors)."""
        # Check before asyncio wraps a coroutine in a task that would then never run (unless a
        # subclass gives guest mode a run_forever of its own, which then decides).
        own_run_forever = type(self).run_forever is QiBaseEventLoop.run_forever
        if self._qi.refused and self._qi.mode is QiLoopMode.OWNER and _qt.app_instance() is None:
            # The clean-up after a refused start (asyncio.Runner.close() cancels the main task and
            # shuts down async generators and the executor) needs no Qt: it runs natively instead
            # of failing the same check again and leaving the main task pending.
            self._check_closed()
            self._qi.mode = QiLoopMode.NATIVE
            try:
                return super().run_until_complete(future)
            finally:
                self._qi.mode = QiLoopMode.OWNER
        self._qi_check_can_run(guest=own_run_forever)
        return super().run_until_complete(future)

    def _qi_check_can_run(self, *, guest: bool = True) -> None:
        self._check_closed()
        self._check_running()
        if self._qi.mode is QiLoopMode.GUEST and guest:
            raise RuntimeError(
                "run_forever() and run_until_complete() are not available in guest mode: Qt's event loop "
                "runs a guest loop. Call loop.start() and run Qt's loop (app.exec()), e.g. with "
                "qtinter.using_asyncio_from_qt(); or set_mode(QiLoopMode.OWNER) to run it from asyncio"
            )
        if self._qi.mode is QiLoopMode.OWNER:
            self._qi_check_can_host()

    def _run_once(self) -> None:
        # Called only by the stock run_forever. In owner mode one call runs a whole QEventLoop,
        # which drives asyncio's own _run_once through the pump until stop() is called.
        if self._qi.mode is QiLoopMode.OWNER:
            self._qi_run_owner()
        else:
            self._qi.stock_run_once()

    def start(self) -> None:
        """Start the loop in guest mode: from now on Qt's event loop (``app.exec()``) runs it.

        Returns at once. :meth:`stop` ends it (after the current iteration), as it would end
        ``run_forever``. :func:`qtinter.using_asyncio_from_qt` calls this for you.

        :raises RuntimeError: not in guest mode, closed, already running, or no QCoreApplication.
        """
        if self._qi.mode is not QiLoopMode.GUEST:
            raise RuntimeError(
                f"start() runs the loop in guest mode, but this loop is in {self._qi.mode.name} mode: "
                "call loop.set_mode(QiLoopMode.GUEST) first, or use run_forever()/run_until_complete()"
            )
        self._check_closed()
        self._check_running()
        self._qi_check_can_host()
        self._qi_setup_running()
        try:
            self._qi_guest_started()
            self._qi_begin_driving()
        except BaseException:
            self._qi_cleanup_running()
            raise

    def stop(self) -> None:
        super().stop()
        if self._qi.asleep:
            self._qi_interleaved_wake()

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        self._qi_unhook()
        driver, self._qi.driver = self._qi.driver, None
        if driver is not None:
            driver.close(same_thread=driver.thread_id == threading.get_ident())
        super().close()

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
        """Call ``fn()`` as soon as the current asyncio iteration ends, with the loop logically asleep.

        While ``fn`` runs (typically a blocking Qt call such as ``dialog.exec()`` that runs a nested Qt
        event loop) the asyncio loop keeps running inside that nested loop, which it cannot do while
        a callback of it is still executing. Exceptions from ``fn`` go to the loop's exception handler.

        :raises RuntimeError: not called from a callback or task of this loop running in owner or
            guest mode.
        """
        if not self._qi.pumping or self._thread_id != threading.get_ident():
            raise RuntimeError(
                "exec_modal() must be called from a callback or task of a qtinter loop that runs in "
                "owner or guest mode"
            )
        self._qi.modal_queue.append(fn)

    # -- owner mode ----------------------------------------------------------------------------------
    def _qi_run_owner(self) -> None:
        qloop = QtCore.QEventLoop()
        self._qi.qloop = qloop
        self._qi.exit_requested = False
        self._qi.pumped = False
        try:
            self._qi_begin_driving()
            _qt.exec_event_loop(qloop)
        finally:
            self._qi_end_driving()
            self._qi.qloop = None
        exc = self._qi.pending_exc
        if exc is not None:
            self._qi.pending_exc = None
            try:
                raise exc
            finally:
                exc = None
        if not self._qi.exit_requested:
            self._stopping = True  # leave run_forever, which then resets the loop's state
            if not self._qi.pumped:
                raise RuntimeError(
                    "Qt refused to run an event loop for this qtinter loop (owner mode): "
                    "QCoreApplication.exit()/quit() has been called, after which Qt runs no event loop "
                    "until app.exec() is called again. Run clean-up code in native mode: "
                    "loop.set_mode(qtinter.QiLoopMode.NATIVE)"
                )
            raise RuntimeError(
                "the Qt event loop of this qtinter loop (owner mode) was ended from outside, by "
                "QCoreApplication.exit()/quit() or QThread.exit(); stop an asyncio loop with loop.stop()"
            )

    # -- guest mode ----------------------------------------------------------------------------------
    def _qi_setup_running(self) -> None:
        # What run_forever does before its first iteration (asyncio 3.10-3.13).
        self._set_coroutine_origin_tracking(self._debug)
        self._qi.old_agen_hooks = sys.get_asyncgen_hooks()
        self._thread_id = threading.get_ident()
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook
        )
        events._set_running_loop(self)

    def _qi_cleanup_running(self) -> None:
        # What run_forever does when it returns.
        self._stopping = False
        self._thread_id = None
        events._set_running_loop(None)
        self._set_coroutine_origin_tracking(False)
        hooks, self._qi.old_agen_hooks = self._qi.old_agen_hooks, None
        if hooks is not None:
            sys.set_asyncgen_hooks(*hooks)

    def _qi_finish_guest(self) -> None:
        self._qi_end_driving()
        try:
            self._qi_guest_stopped()
        finally:
            self._qi_cleanup_running()

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
                self._qi.refused = True
            raise RuntimeError(
                f"a qtinter loop in {self._qi.mode.name} mode needs a QCoreApplication: create the "
                "application (e.g. QApplication([])) before running the loop, or use QiLoopMode.NATIVE"
            )

    def _qi_ensure_driver(self) -> QtDriver:
        driver = self._qi.driver
        if driver is None or driver.thread_id != threading.get_ident():
            if driver is not None:
                driver.close(same_thread=False)
            driver = self._qi.driver = self._qi_make_driver()
        return driver

    def _qi_begin_driving(self) -> None:
        driver = self._qi_ensure_driver()
        self._qi.driving = True
        driver.start_io()
        driver.arm(self.time(), 0.0)
        self._qi.sigint.install(self._csock.fileno())

    def _qi_end_driving(self) -> None:
        self._qi.driving = False
        self._qi_unhook()
        driver = self._qi.driver
        if driver is not None:
            driver.disarm()
            driver.stop_io()
            driver.awake()
        self._qi.sigint.restore()

    def _qi_on_wake(self, *_args: object) -> None:
        """Called by Qt (driver timer, I/O watcher). Nothing may escape into Qt: PyQt would abort."""
        try:
            self._qi_pump()
        except BaseException as exc:
            self._qi_fail(exc)

    def _qi_fail(self, exc: BaseException) -> None:
        """An exception escaped asyncio's iteration: end the run and let the caller of Qt's loop see it."""
        if self._qi.pending_exc is None:
            self._qi.pending_exc = exc
        if self._qi.mode is QiLoopMode.OWNER:
            self._qi.driving = False
            self._qi.exit_requested = True
            if self._qi.qloop is not None:
                self._qi.qloop.exit(1)
        elif self.is_running():
            self._qi_finish_guest()
            # Quit the Qt loop that runs this guest loop, so that the exception reaches its caller.
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
        if state.asleep:
            self._qi_unhook()
            if state.driver is not None:
                state.driver.awake()
        if state.sigint.pending:
            state.sigint.pending = False
            raise KeyboardInterrupt
        state.pumped = True
        gate = state.gate
        inner_select = gate.inner_select
        gated_select = gate.gated
        ready = self._ready
        modal = state.modal_queue
        run_once = state.stock_run_once
        clock = time.monotonic
        sigint = state.sigint
        deadline = clock() + PUMP_BUDGET
        state.pumping = True
        gate.would_block = False
        first_select = inner_select if poll else _no_events
        try:
            while True:
                # With callbacks ready asyncio polls without waiting: no gate needed.
                gate.select = first_select if ready else gated_select
                first_select = inner_select
                run_once()
                if gate.would_block or self._stopping or modal or sigint.pending:
                    break
                # The clock every iteration: one iteration can run many slow callbacks, and
                # reading it only every few iterations starved Qt (a 250 ms gap measured with
                # 40 ready 0.5 ms callbacks); a read costs well under 1% of an iteration.
                if clock() >= deadline:
                    break
        finally:
            gate.select = inner_select
            state.pumping = False
            if state.io_muted:
                state.io_muted = False
                if state.driver is not None:
                    state.driver.set_io_blocked(False)
        if sigint.pending:
            sigint.pending = False
            raise KeyboardInterrupt
        if self._stopping:
            self._qi_on_stopping()
            return
        queue = state.modal_queue
        while queue:
            if not self._qi_run_modal(queue.popleft()):
                return
        self._qi_yield_to_qt()

    def _qi_run_modal(self, fn: Callable[[], object]) -> bool:
        """Run one exec_modal() function; False when the loop stopped meanwhile."""
        self._qi_yield_to_qt()  # the loop is asleep while fn runs: nested Qt loops drive it
        try:
            fn()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.call_exception_handler(
                {"message": f"Exception in modal function {fn!r}", "exception": exc, "loop": self}
            )
        return self._qi.driving

    def _qi_on_stopping(self) -> None:
        if self._qi.mode is QiLoopMode.OWNER:
            self._qi.driving = False
            self._qi.exit_requested = True
            if self._qi.qloop is not None:
                self._qi.qloop.exit(0)
        else:
            self._qi_finish_guest()

    def _qi_yield_to_qt(self) -> None:
        """Hand control back to Qt: the one place that decides when asyncio runs next."""
        driver = self._qi.driver
        if driver is None or not self._qi.driving:
            return
        now = self.time()
        if self._ready or self._stopping:
            driver.arm(now, 0.0)
            return
        if self._scheduled:
            driver.arm_for(now, self._scheduled[0].when())
        else:
            driver.disarm()
        self._qi_hook()
        driver.asleep()

    # -- interleaved code --------------------------------------------------------------------------
    def _qi_make_hook(self, name: str) -> Callable[..., Any]:
        def hook(*args: Any, **kwargs: Any) -> Any:
            self._qi_interleaved_wake()
            return getattr(self, name)(*args, **kwargs)

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
        hooks = state.hooks
        driver = state.driver
        if driver is not None and driver.needs_registration_hooks:
            hooks += state.registration_hooks
        cls = type(self)
        active = state.active_hooks
        for name, hook in hooks:
            # Never shadow what the application put on the instance: hook only where the class's
            # method shows through.
            if getattr(getattr(self, name), "__func__", None) is getattr(cls, name):
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
            self._write_to_self()  # misuse from another thread: wake through the I/O watcher
            return
        self._qi_unhook()
        driver = self._qi.driver
        if self._qi.driving and driver is not None:
            driver.arm(self.time(), 0.0)
