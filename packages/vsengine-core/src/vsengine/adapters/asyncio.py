"""The asyncio adapter: :class:`AsyncIOLoop`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from vsengine._calls import run_into
from vsengine.loops import Cancelled, EventLoop

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from concurrent.futures import Executor

__all__ = ["AsyncIOLoop"]


class AsyncIOLoop(EventLoop):
    """Runs vsengine's callbacks on an asyncio event loop.

    The loop is found lazily: ``loop`` if given, otherwise the loop running when the adapter is
    attached (:func:`~vsengine.loops.set_loop` called from a coroutine) or first used from the
    loop's thread (awaiting any vsengine future does that). Constructing and attaching the
    adapter before ``asyncio.run`` is fine: calls from other threads made before the loop is
    known wait and run as soon as it is. If the loop in use is closed (a later ``asyncio.run``),
    the adapter moves to the next running loop the same way.

    :meth:`to_thread` runs its work in ``executor`` if given; with ``max_workers`` in a thread pool
    of that size that the adapter makes when first needed (threads named ``vsengine-worker-N``)
    and shuts down when it is detached, cancelling the work that has not started; otherwise in a
    new thread per call. Either way it may be called from any thread, before the loop is known too.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        executor: Executor | None = None,
        max_workers: int | None = None,
    ) -> None:
        if max_workers is not None:
            if executor is not None:
                raise ValueError(
                    "AsyncIOLoop(): pass executor= or max_workers=, not both (max_workers sizes the "
                    "thread pool the adapter makes when no executor is given)."
                )
            if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers <= 0:
                raise ValueError(f"AsyncIOLoop(): max_workers must be a positive int, got {max_workers!r}.")
        self._loop = loop
        self._lock = threading.Lock()
        self._waiting: list[Callable[[], object]] = []
        self._executor = executor
        self._max_workers = max_workers
        self._own_executor: ThreadPoolExecutor | None = None

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
        """The asyncio loop this adapter schedules onto (settable)."""
        loop = self._find_loop()
        if loop is None:
            raise RuntimeError(
                "AsyncIOLoop has not found its event loop yet: attach it (set_loop) or use it "
                "from a coroutine first, or pass loop=... to AsyncIOLoop()."
            )
        return loop

    @loop.setter
    def loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Use ``loop`` from now on (``None``: find the running loop again, as at construction)."""
        with self._lock:
            self._loop = loop
            waiting: list[Callable[[], object]] = []
            if loop is not None and not loop.is_closed():
                waiting, self._waiting = self._waiting, []
        for callback in waiting:
            loop.call_soon_threadsafe(callback)  # type: ignore[union-attr]

    def attach(self) -> None:
        self._find_loop()

    def detach(self) -> None:
        with self._lock:
            own, self._own_executor = self._own_executor, None
        if own is not None:
            own.shutdown(wait=False, cancel_futures=True)

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

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        executor = self._executor
        if executor is None and self._max_workers is not None:
            with self._lock:
                if self._own_executor is None:
                    self._own_executor = ThreadPoolExecutor(
                        self._max_workers, thread_name_prefix="vsengine-worker"
                    )
                executor = self._own_executor
        if executor is None:
            return super().to_thread(func, *args, **kwargs)
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        try:
            work = executor.submit(run_into, future, call)
        except RuntimeError as exc:  # the executor is shut down
            future.set_exception(exc)
        else:
            # Shutting the pool down drops the work that has not started: cancel its future too.
            work.add_done_callback(functools.partial(_cancel_if_dropped, future))
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


def _cancel_if_dropped(future: Future[Any], work: Future[None]) -> None:
    if work.cancelled():
        future.cancel()


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
