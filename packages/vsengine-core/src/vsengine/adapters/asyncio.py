"""The asyncio adapter: :class:`AsyncIOLoop`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from vsengine._calls import run_into
from vsengine.loops import Cancelled, EventLoop

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["AsyncIOLoop"]


class AsyncIOLoop(EventLoop):
    """Runs vsengine's callbacks on an asyncio event loop.

    The loop is found lazily: ``loop`` if given, otherwise the loop running when the adapter is
    attached (:func:`~vsengine.loops.set_loop` called from a coroutine) or first used from the
    loop's thread (awaiting any vsengine future does that). Constructing and attaching the
    adapter before ``asyncio.run`` is fine: calls from other threads made before the loop is
    known wait and run as soon as it is. If the loop in use is closed (a later ``asyncio.run``),
    the adapter moves to the next running loop the same way.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._waiting: list[Callable[[], object]] = []

    def _find_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop to use, binding the running loop if needed; None if it is not known yet."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            return loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return None
        with self._lock:
            self._loop = running
            waiting, self._waiting = self._waiting, []
        for callback in waiting:
            running.call_soon(callback)
        return running

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop this adapter schedules onto."""
        loop = self._find_loop()
        if loop is None:
            raise RuntimeError(
                "AsyncIOLoop has not found its event loop yet: attach it (set_loop) or use it "
                "from a coroutine first, or pass loop=... to AsyncIOLoop()."
            )
        return loop

    def attach(self) -> None:
        self._find_loop()

    def _call_soon(self, callback: Callable[[], object]) -> None:
        loop = self._find_loop()
        if loop is None:
            with self._lock:
                if self._loop is None or self._loop.is_closed():
                    self._waiting.append(callback)
                    return
                loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.call_soon(callback)
        else:
            loop.call_soon_threadsafe(callback)

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        try:
            self._call_soon(functools.partial(run_into, future, call, asyncio.CancelledError))
        except RuntimeError as exc:  # no loop yet, or the loop is closed
            future.set_exception(exc)
        return future

    def next_cycle(self) -> Future[None]:
        future: Future[None] = Future()
        task: asyncio.Task[object] | None = None
        with contextlib.suppress(RuntimeError):
            task = asyncio.current_task()

        def continuation() -> None:
            if future.done():
                return
            if task is not None and (task.cancelling() or task.cancelled()):
                future.set_exception(Cancelled())
            else:
                future.set_result(None)

        try:
            self._call_soon(continuation)
        except RuntimeError as exc:
            future.set_exception(exc)
        return future

    async def await_future[R](self, future: Future[R]) -> R:
        self._find_loop()
        if future.done():
            # Still one turn of the loop, as for a pending future: an `async for` over results
            # that are all ready must not starve the loop's other tasks.
            await asyncio.sleep(0)
        else:
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            # A plain callback: nothing to capture, and the waiter never refers back to `future`
            # (no reference cycle keeps a result alive until the garbage collector runs).
            Future.add_done_callback(future, functools.partial(_wake, loop, threading.get_ident(), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                future.cancel()
                raise
        if future.cancelled():
            raise asyncio.CancelledError
        try:
            return future.result()
        except Cancelled as exc:
            raise asyncio.CancelledError() from exc

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except Cancelled as exc:
            raise asyncio.CancelledError() from exc

    def wrap_cancelled(self) -> contextlib.AbstractContextManager[None]:
        return self._translate()

    def __repr__(self) -> str:
        return f"<AsyncIOLoop {self._loop!r}>"


def _wake(loop: asyncio.AbstractEventLoop, loop_thread: int, waiter: asyncio.Future[None], _: object) -> None:
    """Done-callback of an awaited future (any thread): resume its awaiter on ``loop``."""
    if threading.get_ident() == loop_thread:
        _release(waiter)
        return
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(_release, waiter)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
