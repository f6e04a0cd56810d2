"""vsengine.adapters.trio: the EventLoop contract plus trio-specific behaviour."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import trio
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


def test_unattached_adapter_explains() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with pytest.raises(RuntimeError, match="not attached"):
                TrioEventLoop(nursery).from_thread(lambda: None).result(TIMEOUT)

    trio.run(main)
