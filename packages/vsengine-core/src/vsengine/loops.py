"""Bridge VapourSynth's worker threads and your application's event loop.

An :class:`EventLoop` knows how to run a function on the application's loop (:meth:`from_thread`),
how to run blocking work elsewhere (:meth:`to_thread`) and how to await a
:class:`concurrent.futures.Future` (:meth:`await_future`). :func:`set_loop` selects the loop the
rest of vsengine uses. Without one, work runs inline and returns completed futures.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

import vapoursynth as vs

from vsengine._calls import run_into
from vsengine.policy import registered_policy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "NO_LOOP",
    "Cancelled",
    "EventLoop",
    "from_thread",
    "get_loop",
    "keep_environment",
    "set_loop",
    "to_thread",
]


class Cancelled(Exception):
    """The operation was cancelled. Adapters translate it to their loop's own cancellation."""


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
        """A context manager that turns :class:`Cancelled` into the loop's own cancellation."""
        return contextlib.nullcontext()


def _set_result_if_pending(future: Future[None]) -> None:
    if not future.done():
        with contextlib.suppress(Exception):  # lost a race with cancel()
            future.set_result(None)


async def _done[R](future: Future[R]) -> R:
    """Await a future that is already done: needs no event loop, works in any async library."""
    return future.result()


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
            return _done(future)
        try:
            import asyncio

            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Cannot await a pending future without an event loop: call "
                "vsengine.loops.set_loop() with the adapter of your event loop first."
            ) from None
        return asyncio.wrap_future(future)

    def __repr__(self) -> str:
        return "<no event loop>"


#: The inline default, active until :func:`set_loop` is called (``set_loop(NO_LOOP)`` restores it).
NO_LOOP: EventLoop = _NoEventLoop()
_current_loop: EventLoop = NO_LOOP
_loop_lock = threading.Lock()


def get_loop() -> EventLoop:
    """The active event loop (the inline no-loop default until :func:`set_loop` is called)."""
    return _current_loop


def set_loop(loop: EventLoop) -> None:
    """Make ``loop`` the active event loop.

    The previous loop is detached, then ``loop`` is attached. If attaching fails, the no-loop
    default becomes active and the error propagates.
    """
    global _current_loop
    if not isinstance(loop, EventLoop):
        raise TypeError(f"set_loop() needs a vsengine.loops.EventLoop, not {type(loop).__name__}.")
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


def keep_environment[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Capture the VapourSynth environment current now; make it current whenever ``func`` runs.

    With a vsengine :class:`~vsengine.policy.Policy` registered (the usual case) the capture reads
    the policy's own store and never calls into VapourSynth, so it is cheap and safe anywhere,
    including garbage-collector finalizers; ``func`` then runs in an inline section of that
    environment (for the calling thread only). Without a current environment ``func`` is returned
    as it is. Under another policy (vspipe, an editor) VapourSynth is asked, as the 1.x package did.
    """
    policy = registered_policy()
    if policy is not None:
        environment = policy.peek_current_environment()
        if environment is None:
            return func

        @functools.wraps(func)
        def inline_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with policy.inline_captured(environment):
                return func(*args, **kwargs)

        return inline_wrapper

    foreign = _foreign_environment()
    if foreign is None:
        return func

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with foreign.use():
            return func(*args, **kwargs)

    return wrapper


def from_thread[**P, R](func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Run ``func`` on the active event loop, in the VapourSynth environment current now."""
    return get_loop().from_thread(keep_environment(functools.partial(func, *args, **kwargs)))


def to_thread[**P, R](func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Run ``func`` in a worker thread of the active loop, in the VapourSynth environment current now."""
    return get_loop().to_thread(keep_environment(functools.partial(func, *args, **kwargs)))
