"""vsengine.adapters.anyio: the EventLoop contract on both AnyIO backends, plus AnyIO specifics."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from loop_contract import TIMEOUT, AsyncTools, LoopContract, LoopRunner, in_thread

from vsengine.adapters.anyio import AnyIOLoop
from vsengine.futures import UnifiedFuture
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, get_loop, set_loop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from concurrent.futures import Future

BACKENDS = ["asyncio", "trio"]


class AnyIOTools(AsyncTools):
    def __init__(self) -> None:
        self.cancelled_exc = anyio.get_cancelled_exc_class()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def cancel_after(self, seconds: float, func: Callable[[], Awaitable[object]]) -> bool:
        with anyio.move_on_after(seconds) as scope:
            await func()
        return scope.cancelled_caught


class AnyIORunner(LoopRunner):
    supports_async = True

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def run[T](self, scenario: Callable[[EventLoop], Future[T]], *, timeout: float = TIMEOUT) -> T:
        async def main() -> T:
            async with AnyIOLoop() as adapter:
                set_loop(adapter)
                with anyio.fail_after(timeout):
                    return await adapter.await_future(scenario(adapter))

        return anyio.run(main, backend=self.backend)

    def run_async[T](
        self, scenario: Callable[[EventLoop, AsyncTools], Coroutine[Any, Any, T]], *, timeout: float = TIMEOUT
    ) -> T:
        async def main() -> T:
            async with AnyIOLoop() as adapter:
                set_loop(adapter)
                with anyio.fail_after(timeout):
                    return await scenario(adapter, AnyIOTools())

        return anyio.run(main, backend=self.backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestAnyIOContract(LoopContract):
    @pytest.fixture
    def runner(self, backend: str) -> LoopRunner:
        return AnyIORunner(backend)


async def settled(future: Future[Any]) -> Future[Any]:
    with anyio.fail_after(TIMEOUT):
        while not future.done():
            await anyio.sleep(0.001)
    return future


def test_leaving_the_block_restores_the_no_loop_default(backend: str) -> None:
    async def main() -> None:
        async with AnyIOLoop() as adapter:
            set_loop(adapter)
            assert get_loop() is adapter
        assert get_loop() is NO_LOOP

    anyio.run(main, backend=backend)


def test_attaching_an_unentered_loop_fails_and_falls_back() -> None:
    with pytest.raises(RuntimeError, match="Enter the AnyIOLoop first"):
        set_loop(AnyIOLoop())
    assert get_loop() is NO_LOOP


def test_calls_after_the_block_fail_instead_of_hanging(backend: str) -> None:
    async def main() -> AnyIOLoop:
        async with AnyIOLoop() as adapter:
            pass
        return adapter

    adapter = anyio.run(main, backend=backend)
    with pytest.raises(RuntimeError, match="not running"):
        adapter.from_thread(lambda: None).result(TIMEOUT)
    with pytest.raises(RuntimeError, match="not running"):
        adapter.to_thread(lambda: None).result(TIMEOUT)


def test_the_block_waits_for_scheduled_work(backend: str) -> None:
    ran: list[str] = []

    async def main() -> None:
        async with AnyIOLoop() as adapter:
            # Scheduled from a thread (not yet run) when the block is left:
            await adapter.await_future(in_thread(lambda: adapter.from_thread(ran.append, "from a thread")))
            adapter.to_thread(ran.append, "in a worker")

    anyio.run(main, backend=backend)
    assert sorted(ran) == ["from a thread", "in a worker"]


def test_next_cycle_reports_a_cancelled_scope(backend: str) -> None:
    async def main() -> BaseException | None:
        async with AnyIOLoop() as adapter:
            with anyio.CancelScope() as scope:
                scope.cancel()
                future = adapter.next_cycle()
            return (await settled(future)).exception(0)

    assert isinstance(anyio.run(main, backend=backend), Cancelled)


def test_to_thread_uses_the_limiter(backend: str) -> None:
    async def main() -> list[int]:
        limiter = anyio.CapacityLimiter(1)
        active: list[int] = []
        peak: list[int] = []
        lock = threading.Lock()

        def work() -> None:
            with lock:
                active.append(1)
                peak.append(len(active))
            threading.Event().wait(0.01)
            with lock:
                active.pop()

        async with AnyIOLoop(limiter=limiter) as adapter:
            futures = [UnifiedFuture.from_future(adapter.to_thread(work)) for _ in range(4)]
            for future in futures:
                await future if get_loop() is adapter else await adapter.await_future(future)
        return peak

    assert max(anyio.run(main, backend=backend)) == 1


def test_to_thread_work_waiting_for_a_thread_can_be_withdrawn(backend: str) -> None:
    """As long as no worker thread has taken it, cancelling the future withdraws the work."""

    async def main() -> tuple[bool, bool, list[str], list[object]]:
        started, release = threading.Event(), threading.Event()
        ran: list[str] = []

        def first() -> str:
            started.set()
            release.wait(TIMEOUT)
            return "first"

        async with AnyIOLoop(limiter=anyio.CapacityLimiter(1)) as adapter:
            running = adapter.to_thread(first)
            await anyio.to_thread.run_sync(started.wait, TIMEOUT, limiter=anyio.CapacityLimiter(1))
            queued = adapter.to_thread(ran.append, "withdrawn work ran")
            later = adapter.to_thread(ran.append, "later work ran")
            await anyio.wait_all_tasks_blocked()  # both wait for the busy thread
            withdrawn, first_cancellable = queued.cancel(), running.cancel()
            release.set()
            results = [await adapter.await_future(running), await adapter.await_future(later)]
        return withdrawn, first_cancellable, ran, results

    assert anyio.run(main, backend=backend) == (True, False, ["later work ran"], ["first", None])


def test_entering_twice_is_refused(backend: str) -> None:
    async def main() -> None:
        async with AnyIOLoop() as adapter:
            with pytest.raises(RuntimeError, match="already running"):
                await adapter.__aenter__()

    anyio.run(main, backend=backend)
