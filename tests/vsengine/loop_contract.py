"""The contract every :class:`vsengine.loops.EventLoop` adapter must fulfil, as reusable tests.

To test an adapter, implement a :class:`LoopRunner` for it and subclass :class:`LoopContract`::

    class TestMyLoop(LoopContract):
        @pytest.fixture
        def runner(self) -> LoopRunner:
            return MyRunner()

A runner runs the real event loop in the test's thread with the adapter attached
(``set_loop``), calls a *scenario* on the loop thread and keeps the loop running until the
future the scenario returns is done. Runners of loops that can ``await`` (asyncio, trio, anyio,
qtinter) also implement :meth:`LoopRunner.run_async` and set ``supports_async``. Runners of loops
whose ``from_thread`` runs inline when called on the loop thread (Qt) set
``runs_inline_on_loop_thread``; the contract then checks that behaviour instead of scheduling.

The tests use real VapourSynth cores (through their own policy), real threads and real frames.
This module has no dependency on any event-loop library, so other packages (vsengine-qt) can
import it: put this directory on ``sys.path`` and ``from loop_contract import ...``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import vapoursynth as vs

import vsengine.futures
import vsengine.loops
from vsengine.futures import UnifiedFuture, UnifiedIterator
from vsengine.loops import Cancelled, EventLoop, get_loop
from vsengine.policy import ManagedEnvironment, Policy, ThreadLocalStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterator

__all__ = ["TIMEOUT", "AsyncTools", "LoopContract", "LoopRunner", "in_thread"]

#: Upper bound for every wait in these tests (they finish in milliseconds when things work).
TIMEOUT = 10.0


class AsyncTools(ABC):
    """What an async scenario needs from its async library."""

    #: The loop's native cancellation exception (asyncio.CancelledError, trio.Cancelled, ...).
    cancelled_exc: type[BaseException]

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""

    @abstractmethod
    async def cancel_after(self, seconds: float, func: Callable[[], Awaitable[object]]) -> bool:
        """Run ``func()``; cancel it natively after ``seconds``. True if it was cancelled."""


class AsyncIOTools(AsyncTools):
    """The tools for loops that run asyncio (the asyncio adapter, a qtinter loop, AnyIO's asyncio)."""

    cancelled_exc = asyncio.CancelledError

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def cancel_after(self, seconds: float, func: Callable[[], Awaitable[object]]) -> bool:
        async def run() -> None:
            await func()

        try:
            await asyncio.wait_for(run(), seconds)
        except TimeoutError:
            return True
        return False


class LoopRunner(ABC):
    """Runs scenarios on a real event loop with its vsengine adapter attached."""

    supports_async: ClassVar[bool] = False

    #: What ``from_thread`` does when it is called on the loop thread itself. False: it schedules
    #: the call for a later cycle (asyncio, trio, AnyIO). True: it runs the call inline, before
    #: returning an already completed future (a Qt loop must, see vsengine-qt's QtEventLoop). Both
    #: are allowed; the contract checks the one the runner declares.
    runs_inline_on_loop_thread: ClassVar[bool] = False

    @abstractmethod
    def run[T](self, scenario: Callable[[EventLoop], Future[T]], *, timeout: float = TIMEOUT) -> T:
        """Run the loop, call ``scenario(adapter)`` on it, return the result of its future."""

    def run_async[T](
        self,
        scenario: Callable[[EventLoop, AsyncTools], Coroutine[Any, Any, T]],
        *,
        timeout: float = TIMEOUT,
    ) -> T:
        """Run the loop and await ``scenario(adapter, tools)`` on it."""
        raise NotImplementedError


def in_thread[T](func: Callable[[], T]) -> UnifiedFuture[T]:
    """Run ``func`` in a new thread; return the future of its result."""
    future: UnifiedFuture[T] = UnifiedFuture()

    def run() -> None:
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def _identify(*args: object, **kwargs: object) -> tuple[int, tuple[object, ...], dict[str, object]]:
    return threading.get_ident(), args, kwargs


_marker: contextvars.ContextVar[str] = contextvars.ContextVar("loop_contract_marker", default="unset")


class LoopContract:
    """The EventLoop contract. Subclasses provide a ``runner`` fixture."""

    @pytest.fixture
    def contract_env(self) -> Iterator[ManagedEnvironment]:
        """A VapourSynth environment of a thread-local policy (nothing is current anywhere)."""
        with Policy(ThreadLocalStore()) as policy, policy.new_environment() as env:
            yield env

    # -- from_thread ---------------------------------------------------------------------------------

    def test_from_thread_runs_on_the_loop_thread(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[tuple[int, object]]:
            loop_thread = threading.get_ident()
            assert get_loop() is loop
            call = in_thread(lambda: loop.from_thread(_identify, 1, b=2).result(TIMEOUT))
            return call.map(lambda result: (loop_thread, result))

        loop_thread, (ran_on, args, kwargs) = runner.run(scenario)
        assert ran_on == loop_thread
        assert args == (1,)
        assert kwargs == {"b": 2}

    def test_from_thread_delivers_exceptions(self, runner: LoopRunner) -> None:
        error = ValueError("from the loop")

        def fail() -> None:
            raise error

        def scenario(loop: EventLoop) -> Future[BaseException | None]:
            return in_thread(lambda: loop.from_thread(fail).exception(TIMEOUT))

        assert runner.run(scenario) is error

    def test_from_thread_keeps_the_order_of_one_thread(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[list[int]]:
            seen: list[int] = []

            def produce() -> list[int]:
                futures = [loop.from_thread(seen.append, i) for i in range(200)]
                for future in futures:
                    future.result(TIMEOUT)
                return seen

            return in_thread(produce)

        assert runner.run(scenario) == list(range(200))

    def test_from_thread_on_the_loop_thread_does_not_block(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[tuple[int, int]]:
            loop_thread = threading.get_ident()
            return UnifiedFuture.from_future(loop.from_thread(threading.get_ident)).map(
                lambda ran_on: (loop_thread, ran_on)
            )

        loop_thread, ran_on = runner.run(scenario)
        assert ran_on == loop_thread

    def test_from_thread_from_many_threads(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[list[int]]:
            def worker(i: int) -> int:
                return loop.from_thread(lambda: i * i).result(TIMEOUT)

            calls = [in_thread(functools.partial(worker, i)) for i in range(16)]
            return in_thread(lambda: [call.result(TIMEOUT) for call in calls])

        assert runner.run(scenario) == [i * i for i in range(16)]

    def test_from_thread_on_the_loop_thread_runs_inline_or_later(self, runner: LoopRunner) -> None:
        """The runner declares which of the two allowed behaviours its loop has; check that one."""

        def scenario(loop: EventLoop) -> Future[tuple[bool, list[str], list[str]]]:
            ran: list[str] = []
            future = loop.from_thread(ran.append, "ran")
            at_return = (future.done(), list(ran))
            return UnifiedFuture.from_future(future).map(lambda _: (*at_return, list(ran)))

        done_at_return, ran_at_return, ran_later = runner.run(scenario)
        if runner.runs_inline_on_loop_thread:
            assert (done_at_return, ran_at_return) == (True, ["ran"])
        else:
            assert (done_at_return, ran_at_return) == (False, [])
        assert ran_later == ["ran"]

    def test_cancelled_from_thread_never_runs(self, runner: LoopRunner) -> None:
        """Work scheduled from another thread and cancelled before the loop gets to it never runs.

        Holds for loops that run inline on their own thread too: the call is scheduled from a
        worker while the loop thread is busy (inside this scenario), so it cannot have started
        when it is cancelled.
        """

        def scenario(loop: EventLoop) -> Future[tuple[bool, list[str]]]:
            ran: list[str] = []
            # from_thread never blocks its caller, so the worker returns while the loop is busy here.
            future = in_thread(lambda: loop.from_thread(ran.append, "ran")).result(TIMEOUT)
            cancelled = future.cancel()
            # Work scheduled after the cancelled call runs after it would have: then look.
            later = in_thread(lambda: loop.from_thread(lambda: None).result(TIMEOUT))
            return later.map(lambda _: (cancelled, list(ran)))

        assert runner.run(scenario) == (True, [])

    def test_cancelled_from_thread_on_the_loop_thread_never_runs(self, runner: LoopRunner) -> None:
        """Loops that schedule calls made on their own thread: cancelling one before it runs works."""
        if runner.runs_inline_on_loop_thread:
            pytest.skip("from_thread runs inline on this loop's thread: there is nothing to cancel")

        def scenario(loop: EventLoop) -> Future[list[str]]:
            ran: list[str] = []
            future = loop.from_thread(ran.append, "ran")
            assert future.cancel()
            result: UnifiedFuture[list[str]] = UnifiedFuture()

            def two_cycles_later(_: object) -> None:
                loop.from_thread(lambda: result.set_result(list(ran)))

            loop.from_thread(lambda: None).add_done_callback(two_cycles_later)
            return result

        assert runner.run(scenario) == []

    def test_from_thread_copies_the_context(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[str]:
            def worker() -> str:
                _marker.set("worker")
                return loop.from_thread(_marker.get).result(TIMEOUT)

            return in_thread(worker)

        assert runner.run(scenario) == "worker"

    # -- to_thread -------------------------------------------------------------------------------------

    def test_to_thread_runs_elsewhere(self, runner: LoopRunner) -> None:
        def scenario(
            loop: EventLoop,
        ) -> Future[tuple[int, tuple[int, tuple[object, ...], dict[str, object]]]]:
            loop_thread = threading.get_ident()
            return UnifiedFuture.from_future(loop.to_thread(_identify, "a", key="b")).map(
                lambda result: (loop_thread, result)
            )

        loop_thread, (ran_on, args, kwargs) = runner.run(scenario)
        assert ran_on != loop_thread
        assert args == ("a",)
        assert kwargs == {"key": "b"}

    def test_to_thread_delivers_exceptions(self, runner: LoopRunner) -> None:
        def fail() -> None:
            raise KeyError("worker")

        def scenario(loop: EventLoop) -> Future[object]:
            return UnifiedFuture.from_future(loop.to_thread(fail)).catch(lambda exc: exc)

        error = runner.run(scenario)
        assert isinstance(error, KeyError)

    def test_to_thread_from_another_thread(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[int]:
            return in_thread(lambda: loop.to_thread(lambda: 41 + 1).result(TIMEOUT))

        assert runner.run(scenario) == 42

    def test_to_thread_copies_the_context(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[str]:
            _marker.set("caller")
            return loop.to_thread(_marker.get)

        assert runner.run(scenario) == "caller"

    # -- next_cycle --------------------------------------------------------------------------------------

    def test_next_cycle_completes(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[list[None]]:
            first = UnifiedFuture.from_future(loop.next_cycle())
            from_worker = in_thread(lambda: loop.next_cycle().result(TIMEOUT))
            return in_thread(lambda: [first.result(TIMEOUT), from_worker.result(TIMEOUT)])

        assert runner.run(scenario) == [None, None]

    def test_next_cycle_lets_the_loop_run_other_work(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[list[str]]:
            order: list[str] = []
            loop.from_thread(order.append, "scheduled first")
            return UnifiedFuture.from_future(loop.next_cycle()).map(lambda _: order)

        assert runner.run(scenario) == ["scheduled first"]

    # -- VapourSynth integration -------------------------------------------------------------------------

    def test_module_from_thread_keeps_the_environment(
        self, runner: LoopRunner, contract_env: ManagedEnvironment
    ) -> None:
        def core_id() -> int:
            return id(vs.core.core)

        def worker() -> int:
            with contract_env.use():
                return vsengine.loops.from_thread(core_id).result(TIMEOUT)

        def scenario(loop: EventLoop) -> Future[int]:
            return in_thread(worker)

        assert runner.run(scenario) == id(contract_env.core)

    def test_module_to_thread_keeps_the_environment(
        self, runner: LoopRunner, contract_env: ManagedEnvironment
    ) -> None:
        def scenario(loop: EventLoop) -> Future[int]:
            with contract_env.use():
                return vsengine.loops.to_thread(lambda: id(vs.core.core))

        assert runner.run(scenario) == id(contract_env.core)

    def test_frame_callbacks_arrive_on_the_loop(
        self, runner: LoopRunner, contract_env: ManagedEnvironment
    ) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(width=32, height=32, length=10, format=vs.GRAY8, color=[77])

        def scenario(loop: EventLoop) -> Future[list[tuple[bool, int]]]:
            loop_thread = threading.get_ident()
            done: UnifiedFuture[list[tuple[bool, int]]] = UnifiedFuture()
            seen: list[tuple[bool, int]] = []

            def on_frame(future: UnifiedFuture[vs.VideoFrame]) -> None:
                frame = future.result()
                seen.append((threading.get_ident() == loop_thread, frame[0][0, 0]))
                if len(seen) == 5:
                    done.set_result(seen)

            for n in range(5):
                UnifiedFuture.from_future(clip.get_frame_async(n)).add_loop_callback(on_frame)
            return done

        assert runner.run(scenario) == [(True, 77)] * 5

    def test_run_as_completed_with_frames(self, runner: LoopRunner, contract_env: ManagedEnvironment) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(length=8, format=vs.GRAY8)

        def scenario(loop: EventLoop) -> Future[list[int]]:
            futures = [clip.get_frame_async(n) for n in range(8)]
            seen: list[int] = []
            finished = UnifiedIterator(iter(futures)).run_as_completed(
                lambda f: seen.append(futures.index(f))
            )
            return finished.map(lambda _: seen)

        assert runner.run(scenario) == list(range(8))

    # -- futures chained on the loop --------------------------------------------------------------------

    def test_add_loop_callback_chains_on_the_loop(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[tuple[list[tuple[str, bool]], str]]:
            loop_thread = threading.get_ident()
            ran: list[tuple[str, bool]] = []
            source = in_thread(lambda: "value")
            chained = source.add_loop_callback(
                lambda f: ran.append((f"first saw {f.result()}", threading.get_ident() == loop_thread))
            ).add_loop_callback(
                lambda f: ran.append((f"second saw {f.result()}", threading.get_ident() == loop_thread))
            )
            return chained.map(lambda value: (ran, value))

        ran, value = runner.run(scenario)
        assert ran == [("first saw value", True), ("second saw value", True)]
        assert value == "value"

    def test_then_map_catch_on_loop_run_on_the_loop(self, runner: LoopRunner) -> None:
        def fail() -> int:
            raise LookupError("in a thread")

        def scenario(loop: EventLoop) -> Future[list[tuple[object, bool]]]:
            loop_thread = threading.get_ident()

            def on_loop(value: object) -> tuple[object, bool]:
                return value, threading.get_ident() == loop_thread

            mapped = in_thread(lambda: 1).map(on_loop, on_loop=True)
            then = in_thread(lambda: 2).then(on_loop, on_loop=True)
            caught = in_thread(fail).catch(lambda exc: on_loop(type(exc).__name__), on_loop=True)
            return in_thread(lambda: [f.result(TIMEOUT) for f in (mapped, then, caught)])

        assert runner.run(scenario) == [(1, True), (2, True), ("LookupError", True)]

    def test_cancel_cb_runs_on_the_loop(self, runner: LoopRunner) -> None:
        def scenario(loop: EventLoop) -> Future[tuple[bool, bool]]:
            loop_thread = threading.get_ident()
            done: UnifiedFuture[tuple[bool, bool]] = UnifiedFuture()
            source: UnifiedFuture[int] = UnifiedFuture()
            derived = source.then(
                lambda x: x,
                cancel_cb=lambda: done.set_result((threading.get_ident() == loop_thread, source.cancelled())),
                on_loop=True,
            )
            in_thread(derived.cancel)
            return done

        assert runner.run(scenario) == (True, False)

    def test_consume_calls_back_on_the_loop_in_order(
        self, runner: LoopRunner, contract_env: ManagedEnvironment
    ) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(length=12, format=vs.GRAY8)

        def scenario(loop: EventLoop) -> Future[list[tuple[int, bool, bool]]]:
            loop_thread = threading.get_ident()
            requests = [clip.get_frame_async(n) for n in range(12)]
            seen: list[tuple[int, bool, bool]] = []

            def on_frame(future: UnifiedFuture[vs.VideoFrame]) -> None:
                frame = future.result()
                seen.append(
                    (len(seen), isinstance(future, UnifiedFuture), threading.get_ident() == loop_thread)
                )
                frame.close()

            return UnifiedIterator(requests).consume(on_frame).map(lambda _: seen)

        assert runner.run(scenario) == [(n, True, True) for n in range(12)]

    # -- awaiting (loops that can await) -------------------------------------------------------------------

    @pytest.fixture
    def async_runner(self, runner: LoopRunner) -> LoopRunner:
        if not runner.supports_async:
            pytest.skip(f"{type(runner).__name__} cannot await")
        return runner

    def test_await_a_future_completed_by_a_thread(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> str:
            return await in_thread(lambda: "from a thread")

        assert async_runner.run_async(scenario) == "from a thread"

    def test_await_a_done_future(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> int:
            return await UnifiedFuture.resolve(3)

        assert async_runner.run_async(scenario) == 3

    def test_await_raises_the_exception(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> str:
            try:
                await in_thread(lambda: {}["missing"])
            except KeyError as exc:
                return str(exc)
            return "no exception"

        assert async_runner.run_async(scenario) == "'missing'"

    def test_await_a_frame(self, async_runner: LoopRunner, contract_env: ManagedEnvironment) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(width=16, height=8, length=4, format=vs.GRAY8, color=[9])

        async def scenario(loop: EventLoop, tools: AsyncTools) -> tuple[int, int]:
            frame = await UnifiedFuture.from_future(clip.get_frame_async(2))
            return frame.width, frame[0][0, 0]

        assert async_runner.run_async(scenario) == (16, 9)

    def test_async_for_over_frames(self, async_runner: LoopRunner, contract_env: ManagedEnvironment) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(length=6, format=vs.GRAY8)

        async def scenario(loop: EventLoop, tools: AsyncTools) -> int:
            count = 0
            async for frame in UnifiedIterator(clip.get_frame_async(n) for n in range(6)):
                assert isinstance(frame, vs.VideoFrame)
                count += 1
            return count

        assert async_runner.run_async(scenario) == 6

    def test_await_to_thread(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> bool:
            caller = threading.get_ident()
            worker = await UnifiedFuture.from_future(loop.to_thread(threading.get_ident))
            return worker != caller

        assert async_runner.run_async(scenario) is True

    def test_await_next_cycle(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> list[str]:
            order: list[str] = []
            loop.from_thread(order.append, "other work")
            await UnifiedFuture.from_future(loop.next_cycle())
            await tools.sleep(0)
            return order

        assert async_runner.run_async(scenario) == ["other work"]

    def test_cancelling_the_awaiter_cancels_the_future(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> tuple[bool, bool]:
            never: Future[None] = Future()
            cancelled = await tools.cancel_after(0.01, lambda: loop.await_future(never))
            return cancelled, never.cancelled()

        assert async_runner.run_async(scenario) == (True, True)

    def test_native_cancellation_becomes_cancelled(self, async_runner: LoopRunner) -> None:
        """A call handed over with from_thread that ends with the loop's own cancellation exception
        settles its future with vsengine.loops.Cancelled, so loop-neutral code catches one type."""

        def cancelled_natively() -> None:
            make = getattr(
                tools_cancelled[0], "_create", tools_cancelled[0]
            )  # trio.Cancelled: no public constructor
            raise make()

        tools_cancelled: list[type[BaseException]] = []

        async def scenario(loop: EventLoop, tools: AsyncTools) -> BaseException | None:
            tools_cancelled.append(tools.cancelled_exc)
            return await in_thread(lambda: loop.from_thread(cancelled_natively).exception(TIMEOUT))

        assert isinstance(async_runner.run_async(scenario), Cancelled)

    def test_wrap_cancelled_translates(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> bool:
            try:
                with loop.wrap_cancelled():
                    raise Cancelled
            except tools.cancelled_exc:
                return True
            return False

        assert async_runner.run_async(scenario) is True

    def test_make_awaitable(self, async_runner: LoopRunner) -> None:
        async def scenario(loop: EventLoop, tools: AsyncTools) -> str:
            return await vsengine.loops.make_awaitable(in_thread(lambda: "awaited"))

        assert async_runner.run_async(scenario) == "awaited"

    def test_for_each_over_frames(self, async_runner: LoopRunner, contract_env: ManagedEnvironment) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(length=6, format=vs.GRAY8, color=[5])

        async def scenario(loop: EventLoop, tools: AsyncTools) -> list[int]:
            seen: list[int] = []

            async def on_frame(future: UnifiedFuture[vs.VideoFrame]) -> None:
                await tools.sleep(0)
                with future.result() as frame:
                    seen.append(frame[0][0, 0])

            await UnifiedIterator(clip.get_frame_async(n) for n in range(6)).for_each(on_frame)
            return seen

        assert async_runner.run_async(scenario) == [5] * 6

    def test_as_completed_over_frames(
        self, async_runner: LoopRunner, contract_env: ManagedEnvironment
    ) -> None:
        with contract_env.use():
            clip = vs.core.std.BlankClip(length=20, format=vs.GRAY8)

        async def scenario(loop: EventLoop, tools: AsyncTools) -> tuple[list[int], int]:
            in_flight = peak = 0

            def requests() -> Iterator[Future[int]]:
                nonlocal in_flight, peak
                for n in range(20):
                    in_flight += 1
                    peak = max(peak, in_flight)
                    yield UnifiedFuture.from_future(clip.get_frame_async(n)).map(lambda f, n=n: n)

            numbers = []
            async for future in vsengine.futures.as_completed(requests(), concurrency=3):
                in_flight -= 1
                numbers.append(future.result())
            return sorted(numbers), peak

        assert async_runner.run_async(scenario) == (list(range(20)), 3)

    def test_keep_environment_of_a_coroutine_function(
        self, async_runner: LoopRunner, contract_env: ManagedEnvironment
    ) -> None:
        """The environment is current in the coroutine's body, across awaits, and only there."""

        def current_core() -> vs.Core | None:
            try:
                return vs.core.core
            except vs.Error:  # no environment is current
                return None

        async def scenario(loop: EventLoop, tools: AsyncTools) -> tuple[bool, bool, bool]:
            with contract_env.use():

                @vsengine.loops.keep_environment
                async def body() -> tuple[bool, bool]:
                    before = current_core() is contract_env.core
                    await tools.sleep(0.001)
                    return before, current_core() is contract_env.core

            # Runs on the loop thread while the body waits: the environment must not show there.
            meanwhile = UnifiedFuture.from_future(loop.from_thread(current_core))
            before, after = await body()
            return before, after, await meanwhile is None

        assert async_runner.run_async(scenario) == (True, True, True)

    def test_async_with_delegates_to_the_result(self, async_runner: LoopRunner) -> None:
        events: list[str] = []

        class Resource:
            async def __aenter__(self) -> str:
                events.append("enter")
                return "resource"

            async def __aexit__(self, *exc: object) -> None:
                events.append("exit")

        async def scenario(loop: EventLoop, tools: AsyncTools) -> str:
            async with in_thread(Resource) as value:
                events.append(value)
            return ",".join(events)

        assert async_runner.run_async(scenario) == "enter,resource,exit"
