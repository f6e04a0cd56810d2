"""Bridge VapourSynth's worker threads and your application's event loop.

An :class:`EventLoop` knows how to run a function on the application's loop (:meth:`from_thread`),
how to run blocking work elsewhere (:meth:`to_thread`) and how to await a
:class:`concurrent.futures.Future` (:meth:`await_future`). :func:`set_loop` selects the loop the
rest of vsengine uses. Without one, work runs inline and returns completed futures.

:func:`set_loop` accepts an :class:`EventLoop` subclass or any object with the same methods.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import threading
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any

import vapoursynth as vs

from vsengine._calls import run_into
from vsengine.policy import registered_policy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator

__all__ = [
    "NO_LOOP",
    "Cancelled",
    "EventLoop",
    "from_thread",
    "get_loop",
    "keep_environment",
    "make_awaitable",
    "set_loop",
    "to_thread",
]


class Cancelled(BaseException):
    """The operation was cancelled. Adapters translate it to their loop's own cancellation.

    Like :class:`asyncio.CancelledError` it is not an :class:`Exception`, so that an
    ``except Exception`` block never swallows a cancellation.
    """


@functools.cache
def _cancelled_error() -> type[BaseException]:
    """The exception the inline loop (and any loop without its own) turns :class:`Cancelled` into.

    It is both :class:`concurrent.futures.CancelledError` (what ``Future.result()`` raises for a
    cancelled future, and what vsengine 1.x and 2.0 raise here) and :class:`asyncio.CancelledError`
    (so that an asyncio task that meets it is cancelled, not failed). Made on first use: importing
    :mod:`vsengine.loops` does not import asyncio.
    """
    import asyncio

    class InlineCancelledError(CancelledError, asyncio.CancelledError):
        """A cancellation seen outside of any event loop's own cancellation machinery."""

    InlineCancelledError.__module__ = __name__
    InlineCancelledError.__qualname__ = "InlineCancelledError"
    return InlineCancelledError


def _completed[R](func: Callable[[], R]) -> Future[R]:
    future: Future[R] = Future()
    run_into(future, func)
    return future


class EventLoop:
    """The interface vsengine uses to talk to an event loop.

    Only :meth:`from_thread` is required. This is deliberately not an :class:`abc.ABC`, so that
    it mixes with classes that have their own metaclass (``class QtLoop(QObject, EventLoop)``).
    Every method that returns a future returns a :class:`concurrent.futures.Future`; none of them
    blocks the caller.
    """

    def attach(self) -> None:
        """Called by :func:`set_loop` when this loop becomes the active one."""

    def detach(self) -> None:
        """Called by :func:`set_loop` when another loop replaces this one."""

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Run ``func`` on the event loop, soon. Must be safe to call from any thread.

        It never blocks the caller. Called on the loop's own thread it may run ``func`` inline
        (returning a completed future) or schedule it like any other call.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement from_thread().")

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Run ``func`` in a worker thread (by default a new thread) and return its future.

        The caller's :mod:`contextvars` context is copied into the worker.
        """
        future: Future[R] = Future()
        context = contextvars.copy_context()
        call = functools.partial(context.run, func, *args, **kwargs)
        threading.Thread(target=run_into, args=(future, call), name="vsengine-to-thread", daemon=True).start()
        return future

    def next_cycle(self) -> Future[None]:
        """A future that completes once the loop has run another cycle.

        It fails with :class:`Cancelled` if the loop cancels the waiting code in the meantime.
        """
        future: Future[None] = Future()
        scheduled = self.from_thread(_set_result_if_pending, future)
        future.add_done_callback(lambda _: scheduled.cancel())
        return future

    def await_future[R](self, future: Future[R]) -> Awaitable[R]:
        """Return an awaitable for ``future`` that this loop's coroutines can await."""
        raise NotImplementedError(f"{type(self).__name__} cannot await futures.")

    def wrap_cancelled(self) -> contextlib.AbstractContextManager[None]:
        """A context manager that turns :class:`Cancelled` into the loop's own cancellation.

        The default raises an exception that is both :class:`concurrent.futures.CancelledError`
        and :class:`asyncio.CancelledError`; adapters override it with their loop's exception.
        """
        return _translate_cancelled()


@contextlib.contextmanager
def _translate_cancelled() -> Iterator[None]:
    try:
        yield
    except Cancelled as exc:
        raise _cancelled_error()(*exc.args) from exc


def _set_result_if_pending(future: Future[None]) -> None:
    if not future.done():
        with contextlib.suppress(Exception):  # lost a race with cancel()
            future.set_result(None)


async def _done[R](loop: EventLoop, future: Future[R]) -> R:
    """Await a future that is already done: needs no event loop, works in any async library."""
    try:
        return future.result()
    except Cancelled:  # (a try costs nothing: no context manager on this path unless needed)
        with loop.wrap_cancelled():
            raise


async def _wrapped[R](loop: EventLoop, future: Future[R]) -> R:
    """Await a pending future in the running asyncio loop."""
    import asyncio

    try:
        return await asyncio.wrap_future(future)
    except Cancelled:
        with loop.wrap_cancelled():
            raise


class _NoEventLoop(EventLoop):
    """The default: no event loop. Work runs inline and the futures are already completed."""

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        return _completed(functools.partial(func, *args, **kwargs))

    def next_cycle(self) -> Future[None]:
        future: Future[None] = Future()
        future.set_result(None)
        return future

    def await_future[R](self, future: Future[R]) -> Awaitable[R]:
        if future.done():
            return _done(self, future)
        try:
            import asyncio

            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Cannot await a pending future without an event loop: call "
                "vsengine.loops.set_loop() with the adapter of your event loop first."
            ) from None
        return _wrapped(self, future)

    def __repr__(self) -> str:
        return "<no event loop>"


#: The inline default, active until :func:`set_loop` is called (``set_loop(NO_LOOP)`` restores it).
NO_LOOP: EventLoop = _NoEventLoop()
_current_loop: EventLoop = NO_LOOP
_loop_lock = threading.Lock()


def get_loop() -> EventLoop:
    """The active event loop (the inline no-loop default until :func:`set_loop` is called)."""
    return _current_loop


#: What vsengine calls on the active loop: an object with all of them is a loop (duck typing).
_LOOP_METHODS = (
    "attach",
    "detach",
    "from_thread",
    "to_thread",
    "next_cycle",
    "await_future",
    "wrap_cancelled",
)


def set_loop(loop: EventLoop) -> None:
    """Make ``loop`` the active event loop.

    ``loop`` is an :class:`EventLoop` or any object with its methods. The previous loop is
    detached, then ``loop`` is attached. If attaching fails, the no-loop default becomes active
    and the error propagates.
    """
    global _current_loop
    candidate: object = loop  # checked at run time whatever the annotation says
    if not isinstance(candidate, EventLoop):
        missing = [name for name in _LOOP_METHODS if not callable(getattr(candidate, name, None))]
        if missing:
            raise TypeError(
                f"set_loop() needs an event loop: {type(candidate).__name__} has no "
                f"{', '.join(missing)} method{'s' if len(missing) > 1 else ''}. Subclass "
                "vsengine.loops.EventLoop to get the defaults of everything but from_thread()."
            )
    with _loop_lock:
        _current_loop.detach()
        _current_loop = loop
        try:
            loop.attach()
        except BaseException:
            _current_loop = NO_LOOP
            raise


def _foreign_environment() -> vs.Environment | None:
    """The current environment of a policy that is not vsengine's (e.g. vspipe's), asking VapourSynth."""
    if not vs.has_policy():
        return None  # asking VapourSynth would register its standalone policy
    try:
        return vs.get_current_environment()
    except RuntimeError:
        return None


def _capture_environment() -> Callable[[], contextlib.AbstractContextManager[object]] | None:
    """How to re-enter the VapourSynth environment current now, or ``None`` if there is none."""
    policy = registered_policy()
    if policy is not None:
        environment = policy.peek_current_environment()
        if environment is None:
            return None
        return functools.partial(policy.inline_captured, environment)
    foreign = _foreign_environment()
    return None if foreign is None else foreign.use


def keep_environment[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Capture the VapourSynth environment current now; make it current whenever ``func`` runs.

    With a vsengine :class:`~vsengine.policy.Policy` registered (the usual case) the capture reads
    the policy's own store and never calls into VapourSynth, so it is cheap and safe anywhere,
    including garbage-collector finalizers; ``func`` then runs in an inline section of that
    environment (for the calling thread only). Without a current environment ``func`` is returned
    as it is. Under another policy (vspipe, an editor) VapourSynth is asked, as the 1.x package did.

    For a coroutine function the environment is current inside the coroutine's body, each time
    it runs: while the coroutine waits, the rest of the thread (other tasks) is left alone.
    """
    enter = _capture_environment()
    if enter is None:
        return func

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def coroutine_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            return await _InEnvironment(func(*args, **kwargs), enter)

        return coroutine_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with enter():
            return func(*args, **kwargs)

    return wrapper


class _InEnvironment[R]:
    """Awaits ``coroutine``, running each of its steps inside ``enter()``."""

    __slots__ = ("_coroutine", "_enter")

    def __init__(
        self,
        coroutine: Coroutine[Any, Any, R],
        enter: Callable[[], contextlib.AbstractContextManager[object]],
    ) -> None:
        self._coroutine = coroutine
        self._enter = enter

    def __await__(self) -> Generator[Any, Any, R]:
        coroutine, enter = self._coroutine, self._enter
        value: Any = None
        error: BaseException | None = None
        while True:
            with enter():
                try:
                    signal = coroutine.send(value) if error is None else coroutine.throw(error)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
            value = error = None
            try:
                value = yield signal
            except GeneratorExit:
                with enter():
                    coroutine.close()
                raise
            except BaseException as exc:  # thrown in by the event loop (cancellation, ...)
                error = exc


def _bind[**P, R](caller: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Callable[[], R]:
    """``func`` bound to its arguments, keeping the environment current now and ``func``'s name."""
    if not callable(func):
        raise TypeError(f"{caller}(): func must be callable, not {type(func).__name__}.")

    @functools.wraps(func)
    def call() -> R:
        return func(*args, **kwargs)

    return keep_environment(call)


def from_thread[**P, R](func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Run ``func`` on the active event loop, in the VapourSynth environment current now.

    The loop is handed a callable with ``func``'s ``__name__`` (loops may use it to name tasks).
    """
    return get_loop().from_thread(_bind("from_thread", func, *args, **kwargs))


def to_thread[**P, R](func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Run ``func`` in a worker thread of the active loop, in the VapourSynth environment current now.

    The loop is handed a callable with ``func``'s ``__name__`` (loops may use it to name threads).
    """
    return get_loop().to_thread(_bind("to_thread", func, *args, **kwargs))


async def make_awaitable[R](future: Future[R]) -> R:
    """Await ``future`` (a :class:`concurrent.futures.Future`) through the active event loop."""
    return await get_loop().await_future(future)
