"""QtEventLoop: vsengine's event-loop abstraction on the asyncio loop that qtinter runs inside Qt."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from vsengine.loops import Cancelled, EventLoop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = ["QtEventLoop"]


def _settle[R](future: Future[R], call: Callable[[], R]) -> None:
    """Run ``call`` and settle ``future`` with its outcome, unless the future was cancelled first."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = call()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _loop_closed_error() -> RuntimeError:
    return RuntimeError("the Qt event loop is closed: the work was not run")


class QtEventLoop(EventLoop):
    """A :class:`vsengine.loops.EventLoop` on the asyncio loop that qtinter runs inside Qt.

    - :meth:`from_thread` hands work to the loop's thread (the Qt main thread in guest mode) through
      ``call_soon_threadsafe``; called on that thread while the loop runs, it runs the work inline.
    - :meth:`to_thread` runs work in the loop's default executor.
    - :meth:`next_cycle` completes after one loop cycle, with :class:`~vsengine.loops.Cancelled` if the
      task that asked was cancelled in the meantime.
    - :meth:`await_future` and :meth:`wrap_cancelled` translate ``Cancelled`` into
      ``asyncio.CancelledError``.

    ``loop`` defaults to the running asyncio loop, looked up now or, failing that, on :meth:`attach`.
    Attaching and detaching are safe at any time and from any thread: detaching only marks the loop
    inactive; work already handed to it still runs, and it never waits for anything.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is None:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        self._loop = loop
        self._lock = threading.Lock()
        self._attached = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop this adapter schedules on."""
        if self._loop is None:
            raise RuntimeError(
                "QtEventLoop has no asyncio loop: create it while qtinter's loop runs "
                "(inside qtinter.using_asyncio_from_qt() or a coroutine), or pass loop=..."
            )
        return self._loop

    @property
    def attached(self) -> bool:
        """Whether :func:`vsengine.loops.set_loop` made this the active loop (and has not replaced it)."""
        return self._attached

    def attach(self) -> None:
        with self._lock:
            if self._loop is None:
                with contextlib.suppress(RuntimeError):
                    self._loop = asyncio.get_running_loop()
            self.loop  # noqa: B018 (raises the explanatory error when there is no loop)
            self._attached = True

    def detach(self) -> None:
        with self._lock:
            self._attached = False

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _schedule(self, callback: Callable[..., object], *args: Any) -> None:
        """``call_soon_threadsafe``, or RuntimeError naming the problem when the loop is closed."""
        loop = self.loop
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError as exc:
            raise _loop_closed_error() from exc

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(func, *args, **kwargs)
        if self._on_loop_thread():
            _settle(future, call)
            return future
        try:
            self._schedule(_settle, future, call)
        except RuntimeError as exc:
            future.set_exception(exc)
        return future

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        context = contextvars.copy_context()
        call = functools.partial(context.run, func, *args, **kwargs)
        loop = self.loop

        def submit() -> None:
            # Runs on the loop's thread: run_in_executor is not thread-safe.
            try:
                loop.run_in_executor(None, _settle, future, call)
            except BaseException as exc:  # executor shut down, loop closed: say so on the future
                if future.set_running_or_notify_cancel():
                    future.set_exception(exc)

        if self._on_loop_thread():
            submit()
        else:
            try:
                self._schedule(submit)
            except RuntimeError as exc:
                future.set_exception(exc)
        return future

    def next_cycle(self) -> Future[None]:
        future: Future[None] = Future()
        task: asyncio.Task[Any] | None = None
        if self._on_loop_thread():
            task = asyncio.current_task()

        def continue_() -> None:
            if future.done():
                return
            if task is not None and (task.cancelling() or task.done()):
                future.set_exception(Cancelled())
            else:
                future.set_result(None)

        try:
            self._schedule(continue_)
        except RuntimeError:
            future.set_exception(Cancelled())
        return future

    def await_future[R](self, future: Future[R]) -> Awaitable[R]:
        return self._await(future)

    async def _await[R](self, future: Future[R]) -> R:
        with self.wrap_cancelled():
            return await asyncio.wrap_future(future, loop=self.loop)

    @contextlib.contextmanager
    def wrap_cancelled(self) -> Iterator[None]:
        try:
            yield
        except Cancelled as exc:
            raise asyncio.CancelledError(*exc.args) from exc

    def __repr__(self) -> str:
        state = "attached" if self._attached else "detached"
        return f"<QtEventLoop {state} on {self._loop!r}>"
