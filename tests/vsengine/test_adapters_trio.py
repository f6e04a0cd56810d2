"""vsengine.adapters.trio: the EventLoop contract plus trio-specific behaviour."""

from __future__ import annotations

import threading
from concurrent.futures import Future as ConcurrentFuture
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from loop_contract import TIMEOUT, AsyncTools, LoopContract, LoopRunner, in_thread

from vsengine.adapters.trio import TrioEventLoop
from vsengine.futures import UnifiedFuture
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, set_loop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from concurrent.futures import Future


class TrioTools(AsyncTools):
    cancelled_exc = trio.Cancelled

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def cancel_after(self, seconds: float, func: Callable[[], Awaitable[object]]) -> bool:
        with trio.move_on_after(seconds) as scope:
            await func()
        return scope.cancelled_caught


class TrioRunner(LoopRunner):
    supports_async = True

    def run[T](self, scenario: Callable[[EventLoop], Future[T]], *, timeout: float = TIMEOUT) -> T:
        async def main() -> T:
            async with trio.open_nursery() as nursery:
                adapter = TrioEventLoop(nursery)
                set_loop(adapter)
                try:
                    with trio.fail_after(timeout):
                        return await adapter.await_future(scenario(adapter))
                finally:
                    set_loop(NO_LOOP)

        return trio.run(main)

    def run_async[T](
        self, scenario: Callable[[EventLoop, AsyncTools], Coroutine[Any, Any, T]], *, timeout: float = TIMEOUT
    ) -> T:
        async def main() -> T:
            async with trio.open_nursery() as nursery:
                adapter = TrioEventLoop(nursery)
                set_loop(adapter)
                try:
                    with trio.fail_after(timeout):
                        return await scenario(adapter, TrioTools())
                finally:
                    set_loop(NO_LOOP)

        return trio.run(main)


async def settled(future: Future[Any]) -> Future[Any]:
    """Wait until ``future`` is done (trio runs run_sync_soon callbacks on a later tick)."""
    with trio.fail_after(TIMEOUT):
        while not future.done():
            await trio.sleep(0.001)
    return future


class TestTrioContract(LoopContract):
    @pytest.fixture
    def runner(self) -> LoopRunner:
        return TrioRunner()


def test_set_loop_never_cancels_the_users_nursery() -> None:
    async def main() -> list[str]:
        events: list[str] = []
        async with trio.open_nursery() as nursery:
            set_loop(TrioEventLoop(nursery))
            set_loop(NO_LOOP)  # detaches the trio adapter
            await trio.sleep(0)
            assert not nursery.cancel_scope.cancel_called

            async def task() -> None:
                await trio.sleep(0)
                events.append("still running")

            nursery.start_soon(task)
        return events

    assert trio.run(main) == ["still running"]


def test_next_cycle_reports_a_cancelled_scope() -> None:
    async def main() -> BaseException | None:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            set_loop(adapter)
            try:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    future = adapter.next_cycle()
                return (await settled(future)).exception(0)
            finally:
                set_loop(NO_LOOP)

    assert isinstance(trio.run(main), Cancelled)


def test_next_cycle_reports_an_expired_deadline() -> None:
    async def main() -> tuple[BaseException | None, BaseException | None]:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            set_loop(adapter)
            try:
                with trio.move_on_at(trio.current_time() - 1):
                    expired = adapter.next_cycle()
                    await trio.sleep(0)
                normal = adapter.next_cycle()
                return (await settled(expired)).exception(0), (await settled(normal)).exception(0)
            finally:
                set_loop(NO_LOOP)

    expired, normal = trio.run(main)
    assert isinstance(expired, Cancelled)
    assert normal is None


def test_await_next_cycle_in_a_cancelled_scope_raises_trio_cancelled() -> None:
    async def main() -> bool:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            set_loop(adapter)
            try:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await UnifiedFuture.from_future(adapter.next_cycle())
                return scope.cancelled_caught
            finally:
                set_loop(NO_LOOP)

    assert trio.run(main) is True


def test_to_thread_from_a_foreign_thread() -> None:
    async def main() -> tuple[int, int]:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery, limiter=trio.CapacityLimiter(1))
            set_loop(adapter)
            try:
                caller, future = await in_thread(
                    lambda: (threading.get_ident(), adapter.to_thread(threading.get_ident))
                )
                return caller, await UnifiedFuture.from_future(future)
            finally:
                set_loop(NO_LOOP)

    caller, worker = trio.run(main)
    assert caller != worker
    assert worker != threading.get_ident()


def test_calls_after_the_run_ended_fail_instead_of_hanging() -> None:
    adapters: list[TrioEventLoop] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            adapter.attach()
            adapters.append(adapter)

    trio.run(main)
    with pytest.raises(RuntimeError, match="trio run"):
        adapters[0].from_thread(lambda: None).result(TIMEOUT)
    with pytest.raises(RuntimeError, match="trio run"):
        adapters[0].to_thread(lambda: None).result(TIMEOUT)


def test_an_adapter_made_outside_the_run_and_never_attached_explains() -> None:
    adapter = TrioEventLoop()
    with pytest.raises(RuntimeError, match="not attached"):
        adapter.from_thread(lambda: None).result(TIMEOUT)
    with pytest.raises(RuntimeError, match="not attached"):
        _ = adapter.token


def test_an_adapter_made_inside_the_run_works_before_it_is_attached() -> None:
    async def main() -> tuple[str, trio.lowlevel.TrioToken, trio.lowlevel.TrioToken]:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            ran = await trio.to_thread.run_sync(lambda: adapter.from_thread(lambda: "ran").result(TIMEOUT))
            return ran, adapter.token, trio.lowlevel.current_trio_token()

    ran, token, current = trio.run(main)
    assert ran == "ran"
    assert token is current


def test_without_a_nursery_to_thread_runs_in_a_system_task() -> None:
    async def main() -> tuple[int, int, None]:
        adapter = TrioEventLoop()
        set_loop(adapter)
        try:
            worker = await adapter.await_future(adapter.to_thread(threading.get_ident))
            from_worker = await trio.to_thread.run_sync(
                lambda: adapter.to_thread(threading.get_ident).result(TIMEOUT)
            )
            return worker, from_worker, await adapter.await_future(adapter.next_cycle())
        finally:
            set_loop(NO_LOOP)

    worker, from_worker, cycle = trio.run(main)
    assert threading.get_ident() not in (worker, from_worker)
    assert cycle is None


def test_the_limiter_limits_to_thread_workers() -> None:
    async def main() -> tuple[bool, bool, list[str], bool, bool]:
        limiter = trio.CapacityLimiter(1)
        started, release = threading.Event(), threading.Event()

        def first() -> str:
            started.set()
            release.wait(TIMEOUT)
            return "first"

        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery, limiter=limiter)
            futures = [adapter.to_thread(first)]
            await trio.to_thread.run_sync(started.wait, TIMEOUT, limiter=trio.CapacityLimiter(1))
            futures.append(adapter.to_thread(lambda: "second"))
            await trio.testing.wait_all_tasks_blocked()  # the second waits for the limiter
            # The only token is taken by first(): the second's task queues on this limiter (with
            # trio's default limiter instead it would get a thread and finish at its own pace).
            second_waits = limiter.statistics().tasks_waiting == 1 and not futures[1].done()
            release.set()
            results = [await adapter.await_future(f) for f in futures]
            default = TrioEventLoop(nursery).limiter is trio.to_thread.current_default_thread_limiter()
        return adapter.limiter is limiter, second_waits, results, default, limiter.borrowed_tokens == 0

    assert trio.run(main) == (True, True, ["first", "second"], True, True)


def test_to_thread_work_waiting_for_a_thread_can_be_withdrawn() -> None:
    """As long as no worker thread has taken it, cancelling the future withdraws the work."""

    async def main() -> tuple[bool, bool, list[str], list[str]]:
        limiter = trio.CapacityLimiter(1)
        started, release = threading.Event(), threading.Event()
        ran: list[str] = []

        def first() -> str:
            started.set()
            release.wait(TIMEOUT)
            return "first"

        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery, limiter=limiter)
            running = adapter.to_thread(first)
            await trio.to_thread.run_sync(started.wait, TIMEOUT, limiter=trio.CapacityLimiter(1))
            queued = adapter.to_thread(ran.append, "withdrawn work ran")
            later = adapter.to_thread(ran.append, "later work ran")
            await trio.testing.wait_all_tasks_blocked()
            withdrawn, first_cancellable = queued.cancel(), running.cancel()
            release.set()
            results = [await adapter.await_future(running), await adapter.await_future(later)]
        return withdrawn, first_cancellable, ran, [str(r) for r in results]

    assert trio.run(main) == (True, False, ["later work ran"], ["first", "None"])


def test_awaiting_a_cancelled_future_raises_trio_cancelled() -> None:
    async def main() -> bool:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            future: Future[None] = ConcurrentFuture()
            nursery.start_soon(trio.to_thread.run_sync, future.cancel)
            try:
                await adapter.await_future(future)
            except trio.Cancelled:
                return True
            return False

    assert trio.run(main) is True


def test_a_worker_raising_cancelled_leaves_the_nursery_alone() -> None:
    def give_up() -> None:
        raise Cancelled("the work was abandoned")

    async def main() -> tuple[BaseException | None, bool]:
        async with trio.open_nursery() as nursery:
            adapter = TrioEventLoop(nursery)
            future = adapter.to_thread(give_up)
            with trio.fail_after(TIMEOUT):
                while not future.done():
                    await trio.sleep(0.001)
            await trio.sleep(0)  # the task that ran the worker has ended: the nursery carries on
            return future.exception(0), nursery.cancel_scope.cancel_called

    error, cancelled = trio.run(main)
    assert isinstance(error, Cancelled)
    assert not cancelled
