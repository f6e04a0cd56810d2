"""vsengine.loops: the no-loop default, set_loop/get_loop, keep_environment and the helpers."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
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
    set_loop,
    to_thread,
)
from vsengine.policy import Policy, ThreadLocalStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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
    with pytest.raises(TypeError, match="EventLoop"):
        set_loop(object())  # type: ignore[arg-type]
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


def test_default_wrap_cancelled_passes_cancelled_through() -> None:
    with pytest.raises(Cancelled), RecordingLoop([], "x").wrap_cancelled():
        raise Cancelled


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
