"""The AnyIO adapter: :class:`AnyIOLoop`, for asyncio or trio through AnyIO."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread

from vsengine._calls import run_into
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, get_loop, set_loop

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator
    from types import TracebackType

__all__ = ["AnyIOLoop"]


class AnyIOLoop(EventLoop):
    """Runs vsengine's callbacks in an AnyIO event loop (asyncio or trio backend).

    The adapter owns an AnyIO task group and a blocking portal, so it is an async context
    manager::

        async with AnyIOLoop() as loop:
            set_loop(loop)
            ...

    Leaving the block waits for the work it scheduled and, if it is still the active loop,
    makes the no-loop default active again. ``limiter`` limits :meth:`to_thread` workers
    (AnyIO's default limiter if ``None``).
    """

    def __init__(self, *, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.limiter = limiter
        self._stack: contextlib.AsyncExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._thread: int | None = None

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("This AnyIOLoop is already running.")
        async with contextlib.AsyncExitStack() as stack:
            self._portal = await stack.enter_async_context(anyio.from_thread.BlockingPortal())
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._thread = threading.get_ident()
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if get_loop() is self:
            set_loop(NO_LOOP)
        try:
            if stack is None:
                return None
            return await stack.__aexit__(exc_type, exc, tb)
        finally:
            self._portal = self._task_group = self._thread = None

    def attach(self) -> None:
        if self._stack is None:
            raise RuntimeError("Enter the AnyIOLoop first: `async with AnyIOLoop() as loop: set_loop(loop)`.")

    def _start(self, future: Future[object], func: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``func`` as a task of the loop, from any thread; failures go into ``future``."""
        task_group, portal = self._task_group, self._portal
        try:
            if task_group is None or portal is None:
                raise RuntimeError("The AnyIOLoop is not running (use it inside `async with AnyIOLoop()`).")
            if threading.get_ident() == self._thread:
                task_group.start_soon(func)
            else:
                portal.start_task_soon(func).add_done_callback(functools.partial(_check_started, future))
        except RuntimeError as exc:
            if not future.done():
                future.set_exception(exc)

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)

        async def run() -> None:
            run_into(future, call, anyio.get_cancelled_exc_class())

        self._start(future, run)  # type: ignore[arg-type]
        return future

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)

        async def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = await anyio.to_thread.run_sync(call, limiter=self.limiter)
            except anyio.get_cancelled_exc_class():
                future.set_exception(Cancelled())
                raise
            except BaseException as exc:
                future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                future.set_result(result)

        self._start(future, run)  # type: ignore[arg-type]
        return future

    def next_cycle(self) -> Future[None]:
        future: Future[None] = Future()
        deadline = math.inf
        if threading.get_ident() == self._thread:
            with contextlib.suppress(RuntimeError):
                deadline = anyio.current_effective_deadline()

        async def run() -> None:
            if future.done():
                return
            if deadline <= anyio.current_time():
                future.set_exception(Cancelled())
            else:
                future.set_result(None)

        self._start(future, run)  # type: ignore[arg-type]
        return future

    async def await_future[R](self, future: Future[R]) -> R:
        if future.done():
            await anyio.lowlevel.checkpoint()
        else:
            event = anyio.Event()
            loop_thread = threading.get_ident()
            portal = self._portal

            def wake(_: Future[R]) -> None:
                if threading.get_ident() == loop_thread:
                    event.set()
                elif portal is not None:
                    with contextlib.suppress(RuntimeError):
                        portal.start_task_soon(_set_event, event)

            future.add_done_callback(wake)
            try:
                await event.wait()
            except anyio.get_cancelled_exc_class():
                future.cancel()
                raise
        with self.wrap_cancelled():
            return future.result()

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except Cancelled as exc:
            cancelled = anyio.get_cancelled_exc_class()
            create = getattr(cancelled, "_create", cancelled)  # trio.Cancelled has no public constructor
            raise create() from exc

    def wrap_cancelled(self) -> contextlib.AbstractContextManager[None]:
        return self._translate()

    def __repr__(self) -> str:
        state = "running" if self._stack is not None else "not running"
        return f"<AnyIOLoop ({state})>"


async def _set_event(event: anyio.Event) -> None:
    event.set()


def _check_started(future: Future[object], started: Future[object]) -> None:
    """The portal could not run the task (it was stopped or cancelled): fail ``future``."""
    if future.done():
        return
    if started.cancelled():
        future.set_exception(Cancelled())
    elif (exc := started.exception()) is not None and not future.done():
        future.set_exception(exc)
