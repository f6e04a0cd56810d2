"""vsengine.loops: the no-loop default, set_loop/get_loop, keep_environment and the helpers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING

import pytest
import trio
import vapoursynth as vs

from vsengine.futures import UnifiedFuture
from vsengine.loops import (
    NO_LOOP,
    Cancelled,
    EventLoop,
    from_thread,
    get_loop,
    keep_environment,
    make_awaitable,
    set_loop,
    to_thread,
)
from vsengine.policy import Policy, ThreadLocalStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from vsengine.policy import ManagedEnvironment

WAIT = 10.0


class RecordingLoop(EventLoop):
    """A minimal loop: runs work inline on the caller's thread and records attach/detach."""

    def __init__(self, events: list[str], name: str, fail_attach: bool = False) -> None:
        self.events = events
        self.name = name
        self.fail_attach = fail_attach

    def attach(self) -> None:
        self.events.append(f"attach {self.name}")
        if self.fail_attach:
            raise OSError("cannot attach")

    def detach(self) -> None:
        self.events.append(f"detach {self.name}")

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        future.set_result(func(*args, **kwargs))
        return future


# -- the no-loop default -------------------------------------------------------------------------------


def test_the_default_is_no_loop() -> None:
    assert get_loop() is NO_LOOP


def test_no_loop_runs_from_thread_inline() -> None:
    caller = threading.get_ident()
    future = NO_LOOP.from_thread(lambda x: (x, threading.get_ident()), 3)
    assert future.done()
    assert future.result() == (3, caller)


def test_no_loop_reports_exceptions_in_the_future() -> None:
    def fail() -> None:
        raise ValueError("inline")

    future = from_thread(fail)
    assert isinstance(future.exception(0), ValueError)


def test_no_loop_next_cycle_is_done() -> None:
    assert NO_LOOP.next_cycle().result(0) is None


def test_no_loop_to_thread_uses_another_thread() -> None:
    assert NO_LOOP.to_thread(threading.get_ident).result(WAIT) != threading.get_ident()


def test_no_loop_can_await_done_futures_in_any_library() -> None:
    async def main() -> int:
        return await UnifiedFuture.resolve(5)

    assert asyncio.run(main()) == 5
    assert trio.run(main) == 5


def test_no_loop_awaits_pending_futures_under_asyncio() -> None:
    async def main() -> str:
        future: UnifiedFuture[str] = UnifiedFuture()
        threading.Timer(0.01, future.set_result, ("later",)).start()
        return await future

    assert asyncio.run(main()) == "later"


def test_no_loop_explains_what_to_do_for_pending_futures_elsewhere() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="set_loop"):
            await UnifiedFuture[None]()

    trio.run(main)


# -- set_loop / get_loop ---------------------------------------------------------------------------------


def test_set_loop_detaches_the_old_and_attaches_the_new() -> None:
    events: list[str] = []
    first, second = RecordingLoop(events, "first"), RecordingLoop(events, "second")
    set_loop(first)
    assert get_loop() is first
    set_loop(second)
    assert get_loop() is second
    set_loop(NO_LOOP)
    assert events == ["attach first", "detach first", "attach second", "detach second"]


def test_set_loop_falls_back_to_no_loop_when_attach_fails() -> None:
    events: list[str] = []
    good, bad = RecordingLoop(events, "good"), RecordingLoop(events, "bad", fail_attach=True)
    set_loop(good)
    with pytest.raises(OSError, match="cannot attach"):
        set_loop(bad)
    assert get_loop() is NO_LOOP
    assert events == ["attach good", "detach good", "attach bad"]


def test_set_loop_rejects_what_is_not_a_loop() -> None:
    events: list[str] = []
    current = RecordingLoop(events, "current")
    set_loop(current)
    with pytest.raises(
        TypeError, match=r"object has no attach, detach, from_thread, .*wrap_cancelled methods"
    ):
        set_loop(object())  # type: ignore[arg-type]

    class AlmostALoop:
        def from_thread(self, func: Callable[[], object]) -> Future[object]:
            raise AssertionError("never called")

    with pytest.raises(
        TypeError, match="AlmostALoop has no attach, detach, to_thread, next_cycle, await_future"
    ):
        set_loop(AlmostALoop())  # type: ignore[arg-type]
    assert get_loop() is current  # a rejected object changes nothing
    assert events == ["attach current"]


class DuckLoop:
    """Every EventLoop method, without subclassing EventLoop (as some applications' loops are)."""

    def __init__(self, events: list[str], fail_attach: bool = False) -> None:
        self.events = events
        self.fail_attach = fail_attach

    def attach(self) -> None:
        self.events.append("attach")
        if self.fail_attach:
            raise OSError("cannot attach")

    def detach(self) -> None:
        self.events.append("detach")

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        self.events.append(f"from_thread {func.__name__}")
        return NO_LOOP.from_thread(func, *args, **kwargs)

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        self.events.append(f"to_thread {func.__name__}")
        return NO_LOOP.to_thread(func, *args, **kwargs)

    def next_cycle(self) -> Future[None]:
        return NO_LOOP.next_cycle()

    def await_future[R](self, future: Future[R]) -> Awaitable[R]:
        return NO_LOOP.await_future(future)

    def wrap_cancelled(self) -> contextlib.AbstractContextManager[None]:
        return NO_LOOP.wrap_cancelled()


def test_set_loop_accepts_any_object_with_the_event_loop_methods() -> None:
    events: list[str] = []
    loop = DuckLoop(events)
    set_loop(loop)  # type: ignore[arg-type]
    assert get_loop() is loop

    def answer() -> int:
        return 42

    assert from_thread(answer).result(WAIT) == 42
    assert to_thread(answer).result(WAIT) == 42
    assert UnifiedFuture.resolve(1).map(lambda x: x + 1, on_loop=True).result(WAIT) == 2
    set_loop(NO_LOOP)
    assert events[:3] == ["attach", "from_thread answer", "to_thread answer"]
    assert events[-1] == "detach"


def test_set_loop_reverts_to_the_inline_loop_when_a_duck_loop_fails_to_attach() -> None:
    events: list[str] = []
    with pytest.raises(OSError, match="cannot attach"):
        set_loop(DuckLoop(events, fail_attach=True))  # type: ignore[arg-type]
    assert get_loop() is NO_LOOP


def test_event_loop_requires_from_thread() -> None:
    with pytest.raises(NotImplementedError, match="from_thread"):
        EventLoop().from_thread(print)


def test_default_next_cycle_goes_through_from_thread() -> None:
    events: list[str] = []
    loop = RecordingLoop(events, "loop")
    assert loop.next_cycle().result(0) is None


def test_default_await_future_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="RecordingLoop"):
        RecordingLoop([], "x").await_future(Future())


@pytest.mark.parametrize("loop", [NO_LOOP, RecordingLoop([], "x")], ids=["inline", "EventLoop-default"])
def test_wrap_cancelled_without_a_native_cancellation(loop: EventLoop) -> None:
    """No loop of its own: Cancelled becomes what both asyncio and concurrent.futures call cancelled."""
    with pytest.raises(asyncio.CancelledError) as raised, loop.wrap_cancelled():
        raise Cancelled("stop")
    assert isinstance(raised.value, CancelledError)
    assert isinstance(raised.value.__cause__, Cancelled)
    assert raised.value.args == ("stop",)
    with pytest.raises(KeyError), loop.wrap_cancelled():
        raise KeyError("other exceptions pass")


def test_cancelled_is_not_an_exception() -> None:
    """`except Exception` must not swallow a cancellation (as for asyncio.CancelledError)."""
    caught: list[str] = []
    try:
        try:
            raise Cancelled
        except Exception:
            caught.append("except Exception")
    except Cancelled:
        caught.append("except Cancelled")
    assert caught == ["except Cancelled"]
    assert isinstance(from_thread(_raise_cancelled).exception(0), Cancelled)


def _raise_cancelled() -> None:
    raise Cancelled


def test_awaiting_a_cancelled_result_without_a_loop_cancels_the_asyncio_task() -> None:
    """Without an adapter, a future that failed with Cancelled cancels the task awaiting it (it
    must not escape as a BaseException that stops the asyncio loop)."""

    async def waiter(future: Future[None]) -> None:
        await UnifiedFuture.from_future(future)

    async def main() -> tuple[bool, bool]:
        done = UnifiedFuture.reject(Cancelled())
        pending: UnifiedFuture[None] = UnifiedFuture()
        first = asyncio.create_task(waiter(done))
        second = asyncio.create_task(waiter(pending))
        await asyncio.sleep(0)
        threading.Thread(target=pending.set_exception, args=(Cancelled(),)).start()
        results = await asyncio.gather(first, second, return_exceptions=True)
        return first.cancelled(), second.cancelled() and len(results) == 2

    assert asyncio.run(main()) == (True, True)


def test_make_awaitable_without_a_loop() -> None:
    async def main() -> int:
        return await make_awaitable(UnifiedFuture.resolve(8))

    assert asyncio.run(main()) == 8
    assert trio.run(main) == 8


# -- keep_environment and the module-level helpers -------------------------------------------------------


@pytest.fixture
def thread_local_env() -> Iterator[ManagedEnvironment]:
    with Policy(ThreadLocalStore()) as policy, policy.new_environment() as env:
        yield env


def test_keep_environment_restores_the_captured_environment(thread_local_env: ManagedEnvironment) -> None:
    with thread_local_env.use():

        @keep_environment
        def core_in_use() -> vs.Core:
            return vs.core.core

    seen: list[vs.Core] = []
    thread = threading.Thread(target=lambda: seen.append(core_in_use()))
    thread.start()
    thread.join(WAIT)
    assert seen == [thread_local_env.core]


def test_keep_environment_of_a_coroutine_function(thread_local_env: ManagedEnvironment) -> None:
    """The environment is current in the coroutine's body, across awaits; other tasks of the same
    thread do not see it, and the wrapper is still a coroutine function."""

    def current() -> vs.Core | None:
        try:
            return vs.core.core
        except vs.Error:
            return None

    with thread_local_env.use():

        @keep_environment
        async def body(step: asyncio.Event, other_ran: asyncio.Event) -> list[vs.Core | None]:
            seen = [current()]
            step.set()
            await other_ran.wait()
            seen.append(current())
            return seen

    assert inspect.iscoroutinefunction(body)

    async def main() -> tuple[list[vs.Core | None], vs.Core | None]:
        step, other_ran = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(body(step, other_ran))
        await step.wait()
        in_other_task = current()  # while the body is suspended
        other_ran.set()
        return await task, in_other_task

    seen, in_other_task = asyncio.run(main())
    assert seen == [thread_local_env.core, thread_local_env.core]
    assert in_other_task is None


def test_keep_environment_of_a_coroutine_function_passes_exceptions_and_cancellation(
    thread_local_env: ManagedEnvironment,
) -> None:
    with thread_local_env.use():

        @keep_environment
        async def fail() -> None:
            await asyncio.sleep(0)
            raise LookupError("from the body")

        @keep_environment
        async def wait_forever(cleanup: list[vs.Core]) -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cleanup.append(vs.core.core)  # runs in the environment too

    async def main() -> tuple[str, list[vs.Core]]:
        cleanup: list[vs.Core] = []
        task = asyncio.create_task(wait_forever(cleanup))
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await fail()
        except LookupError as exc:
            return str(exc), cleanup
        return "no exception", cleanup

    assert asyncio.run(main()) == ("from the body", [thread_local_env.core])


@pytest.mark.parametrize("with_arguments", [False, True])
@pytest.mark.parametrize("with_environment", [False, True])
def test_from_thread_and_to_thread_hand_over_the_function_name(
    with_arguments: bool, with_environment: bool
) -> None:
    """Loops name their tasks and threads after the callable (vsview's QtEventLoop needs __name__)."""
    events: list[str] = []
    set_loop(DuckLoop(events))  # type: ignore[arg-type]

    def frame_strip(n: int = 0) -> int:
        return n

    args = (3,) if with_arguments else ()
    with contextlib.ExitStack() as stack:
        if with_environment:
            policy = stack.enter_context(Policy(ThreadLocalStore()))
            stack.enter_context(stack.enter_context(policy.new_environment()).use())
        assert from_thread(frame_strip, *args).result(WAIT) == (3 if with_arguments else 0)
        assert to_thread(frame_strip, *args).result(WAIT) == (3 if with_arguments else 0)
    assert events[1:] == ["from_thread frame_strip", "to_thread frame_strip"]


def test_from_thread_and_to_thread_explain_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match=r"from_thread\(\): func must be callable, not int"):
        from_thread(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"to_thread\(\): func must be callable, not str"):
        to_thread("print")  # type: ignore[arg-type]


def test_keep_environment_keeps_metadata() -> None:
    def documented() -> None:
        """Docs."""

    wrapped = keep_environment(documented)
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Docs."


def test_keep_environment_without_a_policy_does_not_register_one() -> None:
    assert not vs.has_policy()
    assert keep_environment(lambda: 1)() == 1
    assert not vs.has_policy()  # asking VapourSynth would have registered its standalone policy


def test_keep_environment_of_a_disposed_environment_fails_clearly() -> None:
    with Policy(ThreadLocalStore()) as policy:
        env = policy.new_environment()
        with env.use():
            wrapped = keep_environment(lambda: vs.core.core)
        env.dispose()
        with pytest.raises(RuntimeError, match="dead"):
            wrapped()


def test_module_to_thread_keeps_the_environment(thread_local_env: ManagedEnvironment) -> None:
    with thread_local_env.use():
        future = to_thread(lambda: vs.core.core)
    assert future.result(WAIT) is thread_local_env.core


def test_module_from_thread_keeps_the_environment(thread_local_env: ManagedEnvironment) -> None:
    def from_a_worker() -> vs.Core:
        with thread_local_env.use():
            return from_thread(lambda: vs.core.core).result(WAIT)

    future = NO_LOOP.to_thread(from_a_worker)
    assert future.result(WAIT) is thread_local_env.core
