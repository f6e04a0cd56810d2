"""vsengine.adapters.asyncio: the EventLoop contract plus asyncio-specific behaviour."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs
from loop_contract import TIMEOUT, AsyncIOTools, AsyncTools, LoopContract, LoopRunner, in_thread

from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.futures import UnifiedFuture
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, get_loop, set_loop

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from vsengine.policy import ManagedEnvironment


class AsyncIORunner(LoopRunner):
    supports_async = True

    def run[T](self, scenario: Callable[[EventLoop], Future[T]], *, timeout: float = TIMEOUT) -> T:
        async def main() -> T:
            adapter = AsyncIOLoop()
            set_loop(adapter)
            try:
                return await asyncio.wait_for(asyncio.wrap_future(scenario(adapter)), timeout)
            finally:
                set_loop(NO_LOOP)

        return asyncio.run(main())

    def run_async[T](
        self, scenario: Callable[[EventLoop, AsyncTools], Coroutine[Any, Any, T]], *, timeout: float = TIMEOUT
    ) -> T:
        async def main() -> T:
            adapter = AsyncIOLoop()
            set_loop(adapter)
            try:
                return await asyncio.wait_for(scenario(adapter, AsyncIOTools()), timeout)
            finally:
                set_loop(NO_LOOP)

        return asyncio.run(main())


class TestAsyncIOContract(LoopContract):
    @pytest.fixture
    def runner(self) -> LoopRunner:
        return AsyncIORunner()


def test_constructed_and_attached_before_any_loop_exists() -> None:
    adapter = AsyncIOLoop()  # no event loop exists yet: nothing may be looked up here
    set_loop(adapter)

    async def main() -> str:
        return await in_thread(lambda: adapter.from_thread(lambda: "on the loop").result(TIMEOUT))

    try:
        assert asyncio.run(main()) == "on the loop"
    finally:
        set_loop(NO_LOOP)


def test_survives_a_second_asyncio_run() -> None:
    adapter = AsyncIOLoop()

    async def main() -> int:
        set_loop(adapter)
        try:
            return await in_thread(lambda: adapter.from_thread(threading.get_ident).result(TIMEOUT))
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) == threading.get_ident()
    assert asyncio.run(main()) == threading.get_ident()  # the first loop is closed by now


def test_calls_made_before_the_loop_is_known_run_once_it_is() -> None:
    adapter = AsyncIOLoop()
    early = in_thread(lambda: adapter.from_thread(threading.get_ident)).result(TIMEOUT)
    assert not early.done()

    async def main() -> int:
        set_loop(adapter)  # attaching from the loop finds it
        try:
            return await UnifiedFuture.from_future(early)
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) == threading.get_ident()


def test_loop_property_explains_a_missing_loop() -> None:
    with pytest.raises(RuntimeError, match="has not found its event loop"):
        _ = AsyncIOLoop().loop


def test_to_thread_is_safe_from_any_thread() -> None:
    async def main() -> tuple[int, int]:
        adapter = AsyncIOLoop()
        set_loop(adapter)
        try:
            outer = await in_thread(lambda: (threading.get_ident(), adapter.to_thread(threading.get_ident)))
            worker = outer[1].result(TIMEOUT)
            return outer[0], worker
        finally:
            set_loop(NO_LOOP)

    caller, worker = asyncio.run(main())
    assert caller != worker


def test_next_cycle_reports_the_cancellation_of_the_task() -> None:
    async def main() -> BaseException | None:
        adapter = AsyncIOLoop()
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        future = adapter.next_cycle()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.sleep(0)
        task.uncancel()
        await asyncio.sleep(0)
        return future.exception(0)

    assert isinstance(asyncio.run(main()), Cancelled)


def test_a_cancelled_error_on_the_loop_becomes_cancelled() -> None:
    def cancelled_on_the_loop() -> None:
        raise asyncio.CancelledError

    async def main() -> None:
        adapter = AsyncIOLoop()
        future = adapter.from_thread(cancelled_on_the_loop)
        await asyncio.sleep(0)
        assert isinstance(future.exception(0), Cancelled)
        with pytest.raises(asyncio.CancelledError):
            await adapter.await_future(future)

    asyncio.run(main())


def test_awaiting_a_cancelled_future_raises_cancelled_error() -> None:
    async def main() -> None:
        future: Future[None] = Future()
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await UnifiedFuture.from_future(future)

    set_loop(AsyncIOLoop())
    try:
        asyncio.run(main())
    finally:
        set_loop(NO_LOOP)


def test_explicit_loop_is_used() -> None:
    loop = asyncio.new_event_loop()
    try:
        adapter = AsyncIOLoop(loop)
        future = adapter.from_thread(lambda: "ran")
        loop.run_until_complete(asyncio.sleep(0))
        assert future.result(0) == "ran"
        assert adapter.loop is loop
    finally:
        loop.close()


def test_frames_render_under_asyncio(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(length=5, format=vs.GRAY8, color=[3])

    async def main() -> list[int]:
        set_loop(AsyncIOLoop())
        try:
            frames = [await UnifiedFuture.from_future(clip.get_frame_async(n)) for n in range(5)]
            return [frame[0][0, 0] for frame in frames]
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) == [3] * 5
    assert get_loop() is NO_LOOP


def test_awaiting_ready_futures_still_lets_other_tasks_run() -> None:
    """A future that is already done is awaited without a round trip through another thread, but
    still with one turn of the loop: an `async for` over ready frames must not starve other tasks."""

    async def main() -> int:
        set_loop(AsyncIOLoop())
        try:
            ticks: list[None] = []

            async def ticker() -> None:
                while True:
                    ticks.append(None)
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            before = len(ticks)
            for _ in range(10):
                assert await UnifiedFuture.resolve(1) == 1
            task.cancel()
            return len(ticks) - before
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) >= 10


@pytest.mark.parametrize("ready", [True, False], ids=["cancelled-before", "cancelled-while-waiting"])
def test_awaiting_a_cancelled_future_raises_asyncio_cancelled(ready: bool) -> None:
    async def main() -> str:
        set_loop(AsyncIOLoop())
        try:
            future: Future[int] = Future()
            if ready:
                future.cancel()
            else:
                asyncio.get_running_loop().call_soon(future.cancel)
            try:
                await UnifiedFuture.from_future(future)
            except asyncio.CancelledError:
                return "asyncio.CancelledError"
            return "no exception"
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) == "asyncio.CancelledError"


# -- to_thread's executor ----------------------------------------------------------------------------


def test_to_thread_runs_in_the_given_executor_with_the_callers_context() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="app-pool") as executor:
        adapter = AsyncIOLoop(executor=executor)
        marker.set("caller")
        name, value = adapter.to_thread(lambda: (threading.current_thread().name, marker.get())).result(
            TIMEOUT
        )
    assert name.startswith("app-pool")
    assert value == "caller"


def test_max_workers_bounds_the_adapters_own_pool() -> None:
    adapter = AsyncIOLoop(max_workers=2)
    started = threading.Semaphore(0)
    release = threading.Event()

    def work() -> str:
        started.release()
        release.wait(TIMEOUT)
        return threading.current_thread().name

    futures = [adapter.to_thread(work) for _ in range(3)]
    try:
        assert started.acquire(timeout=TIMEOUT)
        assert started.acquire(timeout=TIMEOUT)
        # Both workers are blocked in work(): the third call cannot have started.
        assert [f.running() for f in futures].count(True) == 2
        assert not futures[2].running()
        assert not futures[2].done()
    finally:
        release.set()
    names = [f.result(TIMEOUT) for f in futures]
    assert all(name.startswith("vsengine-worker") for name in names)
    assert len(set(names)) == 2
    adapter.detach()


def test_detaching_shuts_the_own_pool_down_and_cancels_what_has_not_started() -> None:
    adapter = AsyncIOLoop(max_workers=1)
    set_loop(adapter)
    started, release = threading.Event(), threading.Event()

    def block() -> str:
        started.set()
        release.wait(TIMEOUT)
        return "finished"

    running = adapter.to_thread(block)
    queued = adapter.to_thread(lambda: "never")
    assert started.wait(TIMEOUT)
    set_loop(NO_LOOP)  # detaches the adapter
    assert queued.cancelled()  # dropped from the pool, not left pending forever
    release.set()
    assert running.result(TIMEOUT) == "finished"
    # A later use makes a new pool.
    assert adapter.to_thread(lambda: "again").result(TIMEOUT) == "again"
    adapter.detach()


def test_an_executor_that_is_shut_down_fails_the_future() -> None:
    executor = ThreadPoolExecutor(max_workers=1)
    executor.shutdown()
    with pytest.raises(RuntimeError, match="shutdown"):
        AsyncIOLoop(executor=executor).to_thread(lambda: None).result(TIMEOUT)


def test_executor_arguments_are_checked() -> None:
    with ThreadPoolExecutor(max_workers=1) as executor, pytest.raises(ValueError, match="not both"):
        AsyncIOLoop(executor=executor, max_workers=2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_workers must be a positive int"):
            AsyncIOLoop(max_workers=bad)  # type: ignore[arg-type]


def test_the_loop_can_be_set() -> None:
    adapter = AsyncIOLoop()
    early = in_thread(lambda: adapter.from_thread(lambda: "ran")).result(TIMEOUT)  # waits for a loop
    loop = asyncio.new_event_loop()
    try:
        adapter.loop = loop
        assert adapter.loop is loop
        loop.run_until_complete(asyncio.sleep(0))
        assert early.result(0) == "ran"
        adapter.loop = None
        with pytest.raises(RuntimeError, match="has not found its event loop"):
            _ = adapter.loop
    finally:
        loop.close()
