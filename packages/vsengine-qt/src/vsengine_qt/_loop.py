"""QtEventLoop: vsengine's event loop for a Qt application.

Calls reach the loop's thread (the Qt thread) through a queue and one queued Qt signal per burst, so
they need Qt's event loop and nothing else; coroutines run on the asyncio loop qtinter runs inside
Qt, which the QtEventLoop starts (guest mode) and owns when none runs yet. Blocking work runs on a
pool of named worker threads that the loop tracks, so that an application can wait for them, with
its GUI alive, before it detaches or exits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import inspect
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any, NamedTuple

import qtinter
from vsengine._calls import run_into
from vsengine.futures import UnifiedFuture
from vsengine.loops import Cancelled, EventLoop
from vsengine_qt._qt import QtCore, Signal, exec_

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator

__all__ = ["QtEventLoop"]

_logger = logging.getLogger("vsengine_qt")


class _Calls:
    """Calls on their way to the loop's thread, in order. Any thread appends; the first call of a burst
    emits one queued Qt signal, and the loop's thread runs every call queued by then in that one Qt
    dispatch (a signal per call measured far slower under floods: a Qt event and a slot call each).

    Each entry is ``(future, call)``: the drain settles ``future`` with the outcome of ``call``
    (``future`` is None for the loop's own posts); if the QtEventLoop is deleted, the futures of the
    calls still queued fail instead of staying pending.
    """

    __slots__ = ("__weakref__", "dead", "pending", "queue", "wake")

    def __init__(self, wake: Callable[[_Calls], None]) -> None:
        self.queue: collections.deque[tuple[Future[Any] | None, Callable[[], object]]] = collections.deque()
        self.pending = False  # a drain is scheduled and has not started yet
        self.dead = False
        self.wake = wake

    def put(self, future: Future[Any] | None, call: Callable[[], object]) -> None:
        """From any thread. RuntimeError if the QtEventLoop was deleted (``future`` has failed then)."""
        if self.dead:
            self._fail(future)
            raise _deleted_error()
        self.queue.append((future, call))
        if not self.pending:
            self.pending = True
            try:
                self.wake(self)
            except RuntimeError:  # the QObject is gone
                self.fail_all()
                raise _deleted_error() from None

    def fail_all(self, *_: object) -> None:
        """The QtEventLoop is gone: fail whatever is still queued."""
        self.dead = True
        queue = self.queue
        while queue:
            self._fail(queue.popleft()[0])

    @staticmethod
    def _fail(future: Future[Any] | None) -> None:
        if future is not None and not future.done():
            with contextlib.suppress(Exception):  # settled concurrently
                future.set_exception(_deleted_error())


def _drain_calls(calls: _Calls) -> None:
    """On the loop's thread: run the calls queued before this drain started (later ones woke it again)."""
    calls.pending = False
    queue = calls.queue
    for _ in range(len(queue)):
        future, call = queue.popleft()
        if future is not None:
            run_into(future, call, asyncio.CancelledError)  # settles the future, never raises
            continue
        try:
            call()
        except BaseException:  # nothing may escape into Qt (PyQt aborts)
            _logger.exception("a call handed to the QtEventLoop raised")


def _deleted_error() -> RuntimeError:
    return RuntimeError("the QtEventLoop was deleted: the call cannot reach its thread")


class _Task(NamedTuple):
    name: str
    owner: object


#: The future of the worker task running on this thread (a worker waiting for workers skips itself).
_worker = threading.local()


def _in_asyncio_iteration(loop: asyncio.AbstractEventLoop | None) -> bool:
    """Whether an asyncio iteration of ``loop`` is running on this thread (a callback or task step):
    asyncio cannot run anything else until it returns."""
    return _after_this_asyncio_callback(loop, _nothing)


def _after_this_asyncio_callback(loop: asyncio.AbstractEventLoop | None, fn: Callable[[], None]) -> bool:
    """Have ``fn`` called right after the asyncio callback or task step that runs on this thread, if
    one runs (else False). ``exec_modal`` takes one function at a time: probe and schedule in one call."""
    if loop is None or not isinstance(loop, qtinter.QiBaseEventLoop) or not loop.is_running():
        return False
    try:
        loop.exec_modal(fn)  # accepted only inside an iteration
    except RuntimeError:
        return False
    return True


def _nothing() -> None:
    pass


class QtEventLoop(QtCore.QObject, EventLoop):
    """A :class:`vsengine.loops.EventLoop` for a Qt application; a ``QObject`` (parentable, with a thread).

    Adopt it in one line, before or after ``app.exec()``, with or without an asyncio loop::

        set_loop(QtEventLoop(app))

    - The loop's thread is the thread that creates it (the Qt main thread). :meth:`from_thread`
      runs a call there, in order, through a queue that one queued Qt signal per burst drains
      (inline when called on that thread);
      :meth:`run_in_loop` also runs coroutine functions, as tasks of the asyncio loop.
    - The asyncio loop is ``loop``, else the one running on this thread, else one that
      :meth:`attach` starts: qtinter's guest mode, owned by this object and ended cleanly on
      :meth:`detach` or when the application quits (after its workers are waited for).
    - :meth:`to_thread` runs blocking work on a pool of named worker threads (``max_workers``);
      :meth:`to_thread_named` and :meth:`to_thread_scoped` name the thread and tag an owner;
      :meth:`active_workers` counts them and :meth:`wait_for_workers` waits, keeping the GUI alive.
    - :meth:`wait` gets a result on the GUI thread without freezing it (a nested Qt event loop), and
      raises instead of deadlocking where the result could never come.
    - :meth:`cancel` makes :meth:`next_cycle` fail with :class:`~vsengine.loops.Cancelled` until
      :meth:`reset_cancel`.

    Every future it returns is a :class:`vsengine.futures.UnifiedFuture`.
    """

    _invoke = Signal(object)

    def __init__(
        self,
        parent: QtCore.QObject | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        max_workers: int | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        given: object = parent
        if given is not None and not isinstance(given, QtCore.QObject):
            if isinstance(given, asyncio.AbstractEventLoop):
                raise TypeError(
                    "QtEventLoop(parent): the first argument is the QObject parent; pass an asyncio loop "
                    "as QtEventLoop(loop=...)"
                )
            raise TypeError(
                f"QtEventLoop(parent): parent must be a QObject or None, got {type(given).__name__}"
            )
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(
                f"QtEventLoop(loop=...): loop must be an asyncio event loop, got {type(loop).__name__}"
            )
        if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int)):
            raise TypeError(
                f"QtEventLoop(max_workers=...): must be an int or None, got {type(max_workers).__name__}"
            )
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"QtEventLoop(max_workers=...): must be at least 1, got {max_workers}")
        super().__init__(parent)
        self._thread_id = threading.get_ident()
        if loop is None:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        self._loop = loop
        self._guest: contextlib.AbstractContextManager[Any] | None = None  # the guest mode we started
        self._lock = threading.Lock()
        self._attached = False
        self._cancelled = False
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: dict[Future[Any], _Task] = {}
        self.shutdown_timeout = shutdown_timeout
        self._calls = _Calls(self._invoke.emit)
        self._invoke.connect(_drain_calls, QtCore.Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg,unused-ignore]
        self.destroyed.connect(self._calls.fail_all)

    # -- the asyncio loop ------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop coroutines run on (RuntimeError while there is none)."""
        if self._loop is None:
            raise RuntimeError(
                "QtEventLoop has no asyncio loop yet: attach it (vsengine.loops.set_loop) on its thread, "
                "which starts qtinter's guest mode, or create it while an asyncio loop runs, or pass loop=..."
            )
        return self._loop

    @property
    def owns_loop(self) -> bool:
        """Whether this object started the asyncio loop (qtinter's guest mode) and will end it."""
        return self._guest is not None

    @property
    def attached(self) -> bool:
        """Whether :func:`vsengine.loops.set_loop` made this the active loop (and has not replaced it)."""
        return self._attached

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    def attach(self) -> None:
        """Become the active loop; start qtinter's guest mode if no asyncio loop runs on the loop's thread."""
        if QtCore.QCoreApplication.instance() is None:
            raise RuntimeError(
                "QtEventLoop needs a QApplication (or QCoreApplication): create it before "
                "set_loop(QtEventLoop())"
            )
        with self._lock:
            self._attached = True
        if self._on_loop_thread():
            self._ensure_asyncio()
        else:
            self._post(self._ensure_asyncio)

    def _ensure_asyncio(self) -> None:
        """On the loop's thread: use the running asyncio loop, or start and own qtinter's guest mode."""
        if self._loop is not None and not self._loop.is_closed():
            return
        try:
            self._loop = asyncio.get_running_loop()
            return
        except RuntimeError:
            pass
        guest = qtinter.using_asyncio_from_qt()
        self._loop = guest.__enter__()
        self._guest = guest
        app = QtCore.QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_about_to_quit)

    def detach(self) -> None:
        """Stop being the active loop: wait for the workers (GUI alive) and end the guest mode we started.

        Never blocks a thread other than the loop's: called elsewhere, the clean-up is handed to the
        loop's thread. Calls already handed over still run.
        """
        with self._lock:
            self._attached = False
        if self._on_loop_thread():
            self._shutdown()
        else:
            self._post(self._shutdown)

    def _on_about_to_quit(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self.wait_for_workers(self.shutdown_timeout)
        guest = self._guest
        if guest is None:
            return
        # Not while asyncio runs one of its callbacks: right after it.
        if not _after_this_asyncio_callback(self._loop, self._end_guest):
            self._end_guest()

    def _end_guest(self) -> None:
        guest, self._guest = self._guest, None
        if guest is None:
            return
        app = QtCore.QCoreApplication.instance()
        if app is not None:
            with contextlib.suppress(TypeError, RuntimeError):
                app.aboutToQuit.disconnect(self._on_about_to_quit)
        self._loop = None
        guest.__exit__(None, None, None)

    # -- calls on the loop's thread --------------------------------------------------------------------

    def _post(self, call: Callable[[], object]) -> None:
        self._calls.put(None, call)

    def from_thread[**P, R](
        self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedFuture[R]:
        """Run ``func`` on the loop's thread: at once when called there, else queued (in order) for it.

        Its exception, and asyncio's cancellation as :class:`~vsengine.loops.Cancelled`, settle the future.
        """
        future: UnifiedFuture[R] = UnifiedFuture()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        if threading.get_ident() == self._thread_id:
            run_into(future, call, asyncio.CancelledError)
            return future
        with contextlib.suppress(RuntimeError):  # the QtEventLoop was deleted: the future has failed
            self._calls.put(future, call)
        return future

    def run_in_loop(self, func: Callable[..., Any], /, *args: Any, block: bool = False, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` on the loop's thread; a coroutine function runs as an asyncio task.

        Returns a :class:`~vsengine.futures.UnifiedFuture`, or with ``block=True`` the result. Blocking
        never deadlocks: a plain function called on the loop's thread runs inline; a coroutine awaited
        on the loop's thread is waited for by :meth:`wait` (a nested Qt loop that keeps Qt and asyncio
        running), which raises ``RuntimeError`` where asyncio could not run (inside one of its own
        callbacks or tasks: ``await`` the future there instead).
        """
        coroutine = inspect.iscoroutinefunction(func)
        if coroutine:
            future = self._start_coroutine(func(*args, **kwargs))
        else:
            future = self.from_thread(func, *args, **kwargs)
        if not block:
            return future
        return self._wait(future, None, needs_asyncio=coroutine)

    def _start_coroutine[R](self, coro: Coroutine[Any, Any, R]) -> UnifiedFuture[R]:
        loop = self._loop
        if self._on_loop_thread():
            self._ensure_asyncio()
            loop = self.loop
            task = loop.create_task(coro)
            future: UnifiedFuture[R] = UnifiedFuture()
            task.add_done_callback(functools.partial(_settle_from_task, future))
            future.add_done_callback(lambda f: f.cancelled() and task.cancel())
            return future
        if loop is None or loop.is_closed():
            coro.close()
            return UnifiedFuture.reject(
                RuntimeError("QtEventLoop has no running asyncio loop for this coroutine: attach it first")
            )
        return UnifiedFuture.from_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def wait[R](self, awaitable: Future[R] | Awaitable[R], timeout: float | None = None) -> R:
        """The result of a future or coroutine, waited for without freezing the GUI.

        On the loop's thread a nested Qt event loop runs until it is done (Qt keeps painting, calls
        from other threads keep arriving, asyncio keeps running unless this is called inside one of
        its callbacks or tasks). A coroutine or asyncio future waited for inside an asyncio callback
        or task could never finish: that raises ``RuntimeError`` at once. On another thread it blocks.
        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        future: Future[R]
        if isinstance(awaitable, Future):
            future = awaitable
        elif inspect.iscoroutine(awaitable):
            future = self._start_coroutine(awaitable)
        else:
            future = self._start_coroutine(_await(awaitable))
        return self._wait(future, timeout, needs_asyncio=not isinstance(awaitable, Future))

    def _wait[R](self, future: Future[R], timeout: float | None, *, needs_asyncio: bool) -> R:
        if not self._on_loop_thread():
            return future.result(timeout)
        if not future.done():
            if needs_asyncio and _in_asyncio_iteration(self._loop):
                future.cancel()
                raise RuntimeError(
                    "QtEventLoop.wait() on the Qt thread inside an asyncio callback or task would deadlock: "
                    "asyncio cannot run the awaited coroutine until that callback returns. Await it there "
                    "instead (await loop.await_future(future)), or call run_in_loop() without block=True"
                )
            self._spin_until([future], timeout)
            if not future.done():
                raise TimeoutError(f"QtEventLoop.wait(): not done within {timeout} s")
        return future.result()

    def _spin_until(self, futures: Iterable[Future[Any]], timeout: float | None) -> None:
        """Run a nested Qt event loop until every future is done or ``timeout`` passes."""
        pending = [f for f in futures if not f.done()]
        if not pending:
            return
        nested = QtCore.QEventLoop()
        left = [len(pending)]

        def one_done() -> None:
            left[0] -= 1
            if left[0] == 0:
                nested.quit()

        for each in pending:
            each.add_done_callback(lambda _: self._post_quietly(one_done))
        timer: QtCore.QTimer | None = None
        if timeout is not None:
            timer = QtCore.QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(nested.quit)
            timer.start(max(0, round(timeout * 1000)))
        if left[0] and not all(f.done() for f in pending):
            exec_(nested)
        if timer is not None:
            timer.stop()

    def _post_quietly(self, call: Callable[[], object]) -> None:
        with contextlib.suppress(RuntimeError):
            self._post(call)

    # -- workers -------------------------------------------------------------------------------------

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> UnifiedFuture[R]:
        """Run ``func`` on a worker thread of this loop's pool, named after ``func``."""
        return self.to_thread_scoped(None, getattr(func, "__name__", "worker"), func, *args, **kwargs)

    def to_thread_named[**P, R](
        self, name: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedFuture[R]:
        """Run ``func`` on a worker thread that is named ``name`` while it runs."""
        return self.to_thread_scoped(None, name, func, *args, **kwargs)

    def to_thread_scoped[**P, R](
        self, owner: object, name: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedFuture[R]:
        """Run ``func`` on a worker thread named ``name`` and tagged with ``owner``.

        :meth:`active_workers` and :meth:`wait_for_workers` can pick tasks by owner and name.

        The caller's :mod:`contextvars` context is copied into the worker.
        """
        future: UnifiedFuture[R] = UnifiedFuture()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._max_workers, thread_name_prefix="vsengine-qt-worker"
                )
            executor = self._executor
            self._tasks[future] = _Task(name, owner)
        future.add_done_callback(self._forget)
        try:
            executor.submit(_run_worker, future, name, call)
        except RuntimeError as exc:  # the interpreter is shutting down
            future.set_exception(exc)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._tasks.pop(future, None)

    def _workers(self, owner: object, names: Iterable[str] | None) -> list[Future[Any]]:
        own = getattr(_worker, "future", None)
        wanted = None if names is None else set(names)
        with self._lock:
            return [
                future
                for future, task in self._tasks.items()
                if future is not own
                and (owner is None or task.owner is owner or task.owner == owner)
                and (wanted is None or task.name in wanted)
            ]

    def active_workers(self, *, owner: object = None, names: Iterable[str] | None = None) -> int:
        """How many worker tasks are queued or running (of ``owner``, with one of ``names``)."""
        return len(self._workers(owner, names))

    def wait_for_workers(
        self, timeout: float | None = None, *, owner: object = None, names: Iterable[str] | None = None
    ) -> bool:
        """Wait until the worker tasks (of ``owner``, with one of ``names``) are done; True if they are.

        On the loop's thread the GUI stays alive meanwhile (a nested Qt event loop: workers can still
        hand calls to it). A worker that calls it does not wait for itself.
        """
        targets = self._workers(owner, names)
        if not targets:
            return True
        if self._on_loop_thread():
            self._spin_until(targets, timeout)
        else:
            wait_futures(targets, timeout)
        return all(f.done() for f in targets)

    # -- cancellation, cycles, awaiting ------------------------------------------------------------------

    @property
    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (and :meth:`reset_cancel` not since)."""
        with self._lock:
            return self._cancelled

    def cancel(self) -> None:
        """Make every :meth:`next_cycle` fail with :class:`~vsengine.loops.Cancelled` (loop-wide)."""
        with self._lock:
            self._cancelled = True

    def reset_cancel(self) -> None:
        with self._lock:
            self._cancelled = False

    def next_cycle(self) -> UnifiedFuture[None]:
        """Completes after the loop's thread has run other work; fails with ``Cancelled`` if the loop was
        cancelled (:meth:`cancel`) or the asyncio task that asked was cancelled meanwhile."""
        future: UnifiedFuture[None] = UnifiedFuture()
        if self.is_cancelled:
            future.set_exception(Cancelled())
            return future
        task: asyncio.Task[Any] | None = None
        if self._on_loop_thread():
            with contextlib.suppress(RuntimeError):
                task = asyncio.current_task()

        def continue_() -> None:
            if future.done():
                return
            if self.is_cancelled or (task is not None and (task.cancelling() or task.done())):
                future.set_exception(Cancelled())
            else:
                future.set_result(None)

        if task is not None:  # asked by an asyncio task: the loop's next iteration
            task.get_loop().call_soon(continue_)
            return future
        try:
            self._post(continue_)
        except RuntimeError:
            future.set_exception(Cancelled())
        return future

    def await_future[R](self, future: Future[R]) -> Awaitable[R]:
        return _await_concurrent(future)

    def wrap_cancelled(self) -> contextlib.AbstractContextManager[None]:
        return _cancelled_to_asyncio()

    def __repr__(self) -> str:
        state = "attached" if self._attached else "detached"
        return f"<QtEventLoop {state} on {self._loop!r}>"


def _run_worker(future: Future[Any], name: str, call: Callable[[], Any]) -> None:
    thread = threading.current_thread()
    previous = thread.name
    thread.name = name
    _worker.future = future
    try:
        run_into(future, call)
    finally:
        _worker.future = None
        thread.name = previous


def _settle_from_task(future: Future[Any], task: asyncio.Task[Any]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.set_exception(Cancelled())
        return
    exc = task.exception()
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(task.result())


async def _await[R](awaitable: Awaitable[R]) -> R:
    return await awaitable


async def _await_concurrent[R](future: Future[R]) -> R:
    with _cancelled_to_asyncio():
        return await asyncio.wrap_future(future)


@contextlib.contextmanager
def _cancelled_to_asyncio() -> Iterator[None]:
    try:
        yield
    except Cancelled as exc:
        raise asyncio.CancelledError(*exc.args) from exc
