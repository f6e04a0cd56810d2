"""The asyncio adapter: :class:`AsyncIOLoop`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from concurrent.futures import Future
from typing import TYPE_CHECKING

from vsengine.loops import Cancelled, EventLoop

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["AsyncIOLoop"]


def _run_into[R](future: Future[R], func: Callable[[], R]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = func()
    except asyncio.CancelledError:
        future.set_exception(Cancelled())
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


class AsyncIOLoop(EventLoop):
    """Runs vsengine's callbacks on an asyncio event loop.

    The loop is found lazily: ``loop`` if given, otherwise the loop running when the adapter is
    attached (:func:`~vsengine.loops.set_loop` called from a coroutine) or first used from the
    loop's thread. Constructing the adapter outside a running loop is fine. If the loop it uses
    has been closed (a later ``asyncio.run``), it moves to the new running loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop this adapter schedules onto."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if loop is None or (loop.is_closed() and running is not None):
            if running is None:
                raise RuntimeError(
                    "AsyncIOLoop has not found its event loop yet: attach it (set_loop) or use it "
                    "from a coroutine first, or pass loop=... to AsyncIOLoop()."
                )
            self._loop = loop = running
        return loop

    def attach(self) -> None:
        with contextlib.suppress(RuntimeError):
            _ = self.loop

    def _call_soon(self, callback: Callable[[], object]) -> None:
        loop = self.loop
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
            self._call_soon(functools.partial(_run_into, future, call))
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
        with self.wrap_cancelled():
            return await asyncio.wrap_future(future)

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
