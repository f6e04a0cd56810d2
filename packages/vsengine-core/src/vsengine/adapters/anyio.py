"""The AnyIO adapter: :class:`AnyIOLoop`, for asyncio or trio through AnyIO."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread

from vsengine._calls import await_worker, run_into
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, get_loop, set_loop

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator
    from types import TracebackType

__all__ = ["AnyIOLoop"]

_NOT_RUNNING = "The AnyIOLoop is not running (use it inside `async with AnyIOLoop()`)."


class AnyIOLoop(EventLoop):
    """Runs vsengine's callbacks in an AnyIO event loop (asyncio or trio backend).

    The adapter owns an AnyIO task group, so it is an async context manager::

        async with AnyIOLoop() as loop:
            set_loop(loop)
            ...

    Calls from other threads (VapourSynth's included) are handed to the loop without ever blocking
    the calling thread. Leaving the block waits for the work scheduled before it and, if it is
    still the active loop, makes the no-loop default active again; later calls fail with
    ``RuntimeError``. ``limiter`` limits :meth:`to_thread` workers
    (AnyIO's default limiter if ``None``).
    """

    def __init__(self, *, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.limiter = limiter
        self._stack: contextlib.AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._thread: int | None = None
        #: The backend's own non-blocking "run this soon on the loop", callable from any thread.
        self._call_soon_threadsafe: Callable[[Callable[[], object]], object] | None = None
        self._lock = threading.Lock()
        #: Calls submitted (from any thread) that the loop has not run yet, by submission number.
        self._handed_over: dict[int, tuple[Future[Any], Callable[[], object]]] = {}
        self._handover_ids = 0
        #: The running backend's cancellation exception (none caught while not running).
        self._cancelled_exc: type[BaseException] | tuple[()] = ()

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("This AnyIOLoop is already running.")
        call_soon_threadsafe = _native_call_soon_in_task_threadsafe()
        self._cancelled_exc = anyio.get_cancelled_exc_class()
        async with contextlib.AsyncExitStack() as stack:
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._thread = threading.get_ident()
            with self._lock:
                self._call_soon_threadsafe = call_soon_threadsafe
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
            # Calls submitted before leaving the block but not run yet belong to this block: run
            # them now (starting their tasks), so that leaving the block waits for them.
            self._start_handed_over()
            return await stack.__aexit__(exc_type, exc, tb)
        finally:
            with self._lock:
                self._call_soon_threadsafe = None
                late = list(self._handed_over.values())
                self._handed_over.clear()
            self._task_group = self._thread = None
            for future, _ in late:
                _fail(future, RuntimeError("The AnyIOLoop stopped before it could run this call."))

    def attach(self) -> None:
        if self._stack is None:
            raise RuntimeError("Enter the AnyIOLoop first: `async with AnyIOLoop() as loop: set_loop(loop)`.")

    def _submit(self, future: Future[Any], call: Callable[[], object]) -> None:
        """Run ``call()`` on the loop thread soon, in submission order; never blocks the caller.

        Works from any thread, the loop's own included. If the loop cannot take it (not running,
        or closed), ``future`` fails with ``RuntimeError``.
        """
        try:
            with self._lock:
                call_soon_threadsafe = self._call_soon_threadsafe
                if call_soon_threadsafe is None:
                    raise RuntimeError(_NOT_RUNNING)
                self._handover_ids += 1
                key = self._handover_ids
                self._handed_over[key] = (future, call)
                # Under the lock, so that __aexit__ cannot miss it; the native call never blocks.
                try:
                    call_soon_threadsafe(functools.partial(self._run_handed_over, key))
                except RuntimeError:  # the loop is closed
                    del self._handed_over[key]
                    raise
        except RuntimeError as exc:
            _fail(future, exc)

    def _run_handed_over(self, key: int) -> None:
        """On the loop thread: run one submitted call (unless __aexit__ has already run it)."""
        with self._lock:
            entry = self._handed_over.pop(key, None)
        if entry is None:
            return
        future, call = entry
        try:
            call()
        except RuntimeError as exc:  # the task group is gone
            _fail(future, exc)

    def _start_handed_over(self) -> None:
        with self._lock:
            keys = list(self._handed_over)
        for key in keys:
            self._run_handed_over(key)

    def _start_task(self, func: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task_group = self._task_group
        if task_group is None:
            raise RuntimeError(_NOT_RUNNING)
        task_group.start_soon(func)

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        self._submit(future, functools.partial(run_into, future, call, self._cancelled_exc))
        return future

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)

        in_thread = functools.partial(anyio.to_thread.run_sync, run_into, future, call, limiter=self.limiter)
        run = functools.partial(await_worker, future, in_thread, self._cancelled_exc)
        self._submit(future, functools.partial(self._start_task, run))
        return future

    def next_cycle(self) -> Future[None]:
        future: Future[None] = Future()
        deadline = math.inf
        if threading.get_ident() == self._thread:
            with contextlib.suppress(RuntimeError):
                deadline = anyio.current_effective_deadline()

        def continuation() -> None:
            if future.done():
                return
            if deadline <= anyio.current_time():
                future.set_exception(Cancelled())
            else:
                future.set_result(None)

        self._submit(future, continuation)
        return future

    async def await_future[R](self, future: Future[R]) -> R:
        if future.done():
            await anyio.lowlevel.checkpoint()
        else:
            event = anyio.Event()
            loop_thread = threading.get_ident()
            call_soon_threadsafe = _native_call_soon_threadsafe()

            def wake(_: Future[R]) -> None:
                if threading.get_ident() == loop_thread:
                    event.set()
                else:
                    # Never blocks the completing thread (often one of VapourSynth's).
                    with contextlib.suppress(RuntimeError):  # the loop has closed
                        call_soon_threadsafe(event.set)

            Future.add_done_callback(future, wake)  # plain: `wake` needs no environment
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


def _native_call_soon_threadsafe() -> Callable[[Callable[[], object]], object]:
    """The running backend's own thread-safe, non-blocking "call this soon on the loop".

    (AnyIO's ``from_thread`` functions and portals block the calling thread until the loop has
    run the call; a VapourSynth thread must never wait for the event loop.)
    """
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon


def _native_call_soon_in_task_threadsafe() -> Callable[[Callable[[], object]], object]:
    """Like `_native_call_soon_threadsafe`, for calls that use AnyIO (task groups, ...).

    AnyIO finds its asyncio backend through the current task, and asyncio's ``call_soon``
    callbacks run outside of any task: there the call runs in a short-lived task. Trio's
    ``run_sync_soon`` callbacks need nothing more.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _native_call_soon_threadsafe()

    def call_soon_in_task(callback: Callable[[], object]) -> None:
        loop.call_soon_threadsafe(_create_task, loop, callback)

    return call_soon_in_task


def _create_task(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    loop.create_task(_call(callback))


async def _call(callback: Callable[[], object]) -> None:
    callback()


def _fail(future: Future[Any], error: BaseException) -> None:
    if not future.done():
        with contextlib.suppress(Exception):  # settled concurrently
            future.set_exception(error)
