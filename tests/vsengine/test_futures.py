"""vsengine.futures: UnifiedFuture, UnifiedIterator and @unified (also as vsengine._futures)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import threading
import weakref
from concurrent.futures import CancelledError, Future, InvalidStateError
from typing import TYPE_CHECKING

import pytest
import trio
import vapoursynth as vs
from _helpers import ADAPTERS, run_under

import vsengine
import vsengine._futures
from vsengine._calls import run_into
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.futures import UnifiedFuture, UnifiedIterator, as_completed, unified
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, get_loop, set_loop
from vsengine.policy import Policy, ThreadLocalStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from vsengine.policy import ManagedEnvironment

WAIT = 10.0


class ManualLoop(EventLoop):
    """A loop that runs what it is handed only when the test calls ``run_pending()``."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []
        self.cycles: list[Future[None]] = []

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        self.pending.append(functools.partial(run_into, future, functools.partial(func, *args, **kwargs)))
        return future

    def next_cycle(self) -> Future[None]:
        cycle: Future[None] = Future()
        self.cycles.append(cycle)
        return cycle

    def run_pending(self) -> int:
        """Run what is pending now (not what that schedules); the number of calls run."""
        pending, self.pending = self.pending, []
        for call in pending:
            call()
        return len(pending)

    def complete_cycles(self) -> None:
        cycles, self.cycles = self.cycles, []
        for cycle in cycles:
            cycle.set_result(None)


@pytest.fixture
def manual_loop() -> Iterator[ManualLoop]:
    loop = ManualLoop()
    set_loop(loop)
    yield loop
    set_loop(NO_LOOP)


def test_the_1x_module_name_is_the_same_api() -> None:
    assert vsengine._futures.UnifiedFuture is UnifiedFuture
    assert vsengine._futures.UnifiedIterator is UnifiedIterator
    assert vsengine._futures.unified is unified


def test_is_a_concurrent_future() -> None:
    assert isinstance(UnifiedFuture[int](), Future)


# -- construction ----------------------------------------------------------------------------------


def test_resolve_and_reject() -> None:
    assert UnifiedFuture.resolve(4).result(0) == 4
    error = ValueError("no")
    assert UnifiedFuture.reject(error).exception(0) is error


def test_from_future_follows_the_source() -> None:
    source: Future[int] = Future()
    wrapped = UnifiedFuture.from_future(source)
    assert not wrapped.done()
    source.set_result(9)
    assert wrapped.result(0) == 9


def test_from_future_of_a_unified_future_is_itself() -> None:
    future = UnifiedFuture.resolve(1)
    assert UnifiedFuture.from_future(future) is future


def test_from_call_wraps_the_returned_future_and_turns_errors_into_failures() -> None:
    assert UnifiedFuture.from_call(lambda x: UnifiedFuture.resolve(x * 2), 4).result(0) == 8

    def broken() -> Future[int]:
        raise LookupError("before any future existed")

    assert isinstance(UnifiedFuture.from_call(broken).exception(0), LookupError)


def test_from_call_accepts_a_function_returning_a_plain_value() -> None:
    assert UnifiedFuture.from_call(lambda a, b: a * b, 6, b=7).result(0) == 42
    assert UnifiedFuture.from_call(lambda: None).result(0) is None


def test_from_future_explains_what_is_not_a_future() -> None:
    with pytest.raises(TypeError, match=r"concurrent\.futures\.Future or an asyncio Future"):
        UnifiedFuture.from_future(42)  # type: ignore[arg-type]


def test_try_set_result_and_try_set_exception() -> None:
    future: UnifiedFuture[int] = UnifiedFuture()
    assert future.try_set_result(1) is True
    assert future.try_set_result(2) is False
    assert future.try_set_exception(ValueError("late")) is False
    assert future.result(0) == 1

    failed: UnifiedFuture[int] = UnifiedFuture()
    error = KeyError("first")
    assert failed.try_set_exception(error) is True
    assert failed.try_set_result(3) is False
    assert failed.exception(0) is error

    cancelled: UnifiedFuture[int] = UnifiedFuture()
    cancelled.cancel()
    assert cancelled.try_set_result(4) is False
    assert cancelled.try_set_exception(error) is False
    assert cancelled.cancelled()


# -- from_future with asyncio futures and tasks --------------------------------------------------------


def test_from_future_of_an_asyncio_task() -> None:
    async def six() -> int:
        await asyncio.sleep(0)
        return 6

    async def main() -> tuple[int, int]:
        set_loop(AsyncIOLoop())
        try:
            wrapped = UnifiedFuture.from_future(asyncio.create_task(six()))
            # A thread can wait for it like for any concurrent future.
            from_a_thread = UnifiedFuture.from_future(
                asyncio.get_running_loop().run_in_executor(None, wrapped.result, WAIT)
            )
            return await wrapped, await from_a_thread
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) == (6, 6)


def test_from_future_of_a_failing_asyncio_future() -> None:
    async def main() -> BaseException | None:
        raw: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        wrapped = UnifiedFuture.from_future(raw)
        raw.set_exception(ZeroDivisionError("asyncio"))
        await asyncio.sleep(0)  # asyncio runs done-callbacks on the next cycle
        await asyncio.sleep(0)
        return wrapped.exception(0)

    assert isinstance(asyncio.run(main()), ZeroDivisionError)


def test_cancelling_the_wrapper_cancels_the_asyncio_task_from_any_thread() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    async def main() -> tuple[bool, bool]:
        task = asyncio.create_task(forever())
        wrapped = UnifiedFuture.from_future(task)
        await asyncio.sleep(0)
        canceller = threading.Thread(target=wrapped.cancel)
        canceller.start()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # woken by the cancellation the thread handed to the loop
        canceller.join(WAIT)
        return wrapped.cancelled(), task.cancelled()

    assert asyncio.run(main()) == (True, True)


def test_a_cancelled_asyncio_task_cancels_the_wrapper() -> None:
    async def main() -> bool:
        task = asyncio.create_task(asyncio.Event().wait())
        wrapped = UnifiedFuture.from_future(task)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return wrapped.cancelled()

    assert asyncio.run(main()) is True


def test_from_future_of_asyncio_futures_of_a_closed_loop() -> None:
    loop = asyncio.new_event_loop()
    done, failed, pending = loop.create_future(), loop.create_future(), loop.create_future()
    done.set_result("kept")
    failed.set_exception(LookupError("kept too"))
    loop.close()
    assert UnifiedFuture.from_future(done).result(0) == "kept"
    assert isinstance(UnifiedFuture.from_future(failed).exception(0), LookupError)
    assert UnifiedFuture.from_future(pending).cancelled()  # it can never complete any more


def test_from_future_of_an_asyncio_future_of_a_loop_in_another_thread() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    try:
        raw: asyncio.Future[str] = asyncio.run_coroutine_threadsafe(_make_future(), loop).result(WAIT)
        wrapped = UnifiedFuture.from_future(raw)
        loop.call_soon_threadsafe(raw.set_result, "across threads")
        assert wrapped.result(WAIT) == "across threads"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(WAIT)
        loop.close()


async def _make_future() -> asyncio.Future[str]:
    return asyncio.get_running_loop().create_future()


# -- from_trio_task ----------------------------------------------------------------------------------


def test_from_trio_task_delivers_results_and_errors() -> None:
    async def add(a: int, b: int) -> int:
        await trio.sleep(0)
        return a + b

    async def fail() -> None:
        raise ValueError("in the trio task")

    class MyFuture(UnifiedFuture[int]):
        pass

    async def main() -> tuple[int, BaseException | None, bool]:
        async with trio.open_nursery() as nursery:
            total = MyFuture.from_trio_task(nursery, add, 2, 3)
            failed = UnifiedFuture.from_trio_task(nursery, fail)
        return total.result(0), failed.exception(0), isinstance(total, MyFuture)

    total, error, subclass = trio.run(main)
    assert total == 5
    assert isinstance(error, ValueError)
    assert subclass


def test_cancelling_from_trio_task_cancels_the_task_from_another_thread() -> None:
    async def main() -> tuple[bool, list[str]]:
        events: list[str] = []
        started = trio.Event()

        async def forever() -> None:
            started.set()
            try:
                await trio.sleep_forever()
            finally:
                events.append("task ended")

        async with trio.open_nursery() as nursery:
            future = UnifiedFuture.from_trio_task(nursery, forever)
            await started.wait()
            await trio.to_thread.run_sync(future.cancel)
        return future.cancelled(), events

    assert trio.run(main) == (True, ["task ended"])


def test_from_trio_task_cancelled_by_trio_cancels_the_future() -> None:
    async def main() -> bool:
        started = trio.Event()

        async def forever() -> None:
            started.set()
            await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            future = UnifiedFuture.from_trio_task(nursery, forever)
            await started.wait()
            nursery.cancel_scope.cancel()
        return future.cancelled()

    assert trio.run(main) is True


def test_from_trio_task_cancelled_before_it_starts_never_runs() -> None:
    async def main() -> tuple[bool, list[str]]:
        ran: list[str] = []

        async def record() -> None:
            ran.append("ran")

        async with trio.open_nursery() as nursery:
            future = UnifiedFuture.from_trio_task(nursery, record)
            assert future.cancel()
        return future.cancelled(), ran

    assert trio.run(main) == (True, [])


def test_from_future_with_a_vapoursynth_frame(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=24, height=8, format=vs.GRAY8, length=2)
    assert UnifiedFuture.from_future(clip.get_frame_async(1)).result(WAIT).width == 24


# -- chaining --------------------------------------------------------------------------------------


def test_map_then_catch() -> None:
    assert UnifiedFuture.resolve(2).map(lambda x: x + 1).result(0) == 3
    failed = UnifiedFuture.reject(KeyError("k"))
    assert failed.map(lambda x: x).exception(0) is failed.exception(0)
    assert failed.catch(lambda exc: f"caught {type(exc).__name__}").result(0) == "caught KeyError"
    assert UnifiedFuture.resolve(1).catch(lambda exc: 0).result(0) == 1
    assert UnifiedFuture.resolve(5).then(lambda x: -x, lambda exc: 0).result(0) == -5
    assert UnifiedFuture.resolve(5).then(None, None).result(0) == 5


def test_then_with_one_callback_or_only_an_error_callback() -> None:
    assert UnifiedFuture.resolve(2).then(lambda x: x * 3).result(0) == 6
    error = KeyError("k")
    assert UnifiedFuture.reject(error).then(lambda x: x).exception(0) is error
    assert UnifiedFuture.reject(error).then(err_cb=lambda exc: "handled").result(0) == "handled"
    assert UnifiedFuture.resolve(1).then(err_cb=lambda exc: "handled").result(0) == 1


def test_on_loop_callbacks_run_when_the_loop_runs_them(manual_loop: ManualLoop) -> None:
    source: UnifiedFuture[int] = UnifiedFuture()
    ran: list[str] = []
    mapped = source.map(lambda x: ran.append("map") or x + 1, on_loop=True)
    then = source.then(lambda x: ran.append("then") or x + 2, lambda exc: 0, on_loop=True)
    inline = source.map(lambda x: ran.append("inline") or x + 3)
    source.set_result(1)
    assert ran == ["inline"]
    assert inline.result(0) == 4
    assert not mapped.done()
    assert not then.done()
    assert manual_loop.run_pending() == 2
    assert ran == ["inline", "map", "then"]
    assert (mapped.result(0), then.result(0)) == (2, 3)


def test_an_on_loop_callback_failure_fails_the_derived_future(manual_loop: ManualLoop) -> None:
    def explode(exc: BaseException) -> int:
        raise ArithmeticError(f"handling {exc}")

    caught = UnifiedFuture.reject(KeyError("k")).catch(explode, on_loop=True)
    manual_loop.run_pending()
    assert isinstance(caught.exception(0), ArithmeticError)


def test_a_derived_future_cancelled_before_its_on_loop_callback_runs_skips_it(
    manual_loop: ManualLoop,
) -> None:
    ran: list[int] = []
    source: UnifiedFuture[int] = UnifiedFuture()
    derived = source.map(ran.append, cancel_cb=lambda: None, on_loop=True)
    source.set_result(1)  # hands the callback to the loop
    assert derived.cancel()
    manual_loop.run_pending()  # the callback's turn comes: its result is no longer wanted
    assert derived.cancelled()
    assert ran == []


def test_a_raising_callback_fails_the_derived_future() -> None:
    def explode(_: int) -> int:
        raise ArithmeticError("in map")

    assert isinstance(UnifiedFuture.resolve(1).map(explode).exception(0), ArithmeticError)


def test_chaining_waits_for_the_source() -> None:
    source: UnifiedFuture[int] = UnifiedFuture()
    derived = source.map(lambda x: x * 10)
    assert not derived.done()
    threading.Timer(0.01, source.set_result, (4,)).start()
    assert derived.result(WAIT) == 40


@pytest.mark.parametrize(
    "derive",
    [
        pytest.param(lambda f: f.map(lambda x: x), id="map"),
        pytest.param(lambda f: f.catch(lambda exc: 0), id="catch"),
        pytest.param(lambda f: f.then(lambda x: x, lambda exc: 0), id="then"),
        pytest.param(lambda f: UnifiedFuture.from_future(f), id="from_future"),
        pytest.param(lambda f: f.map(lambda x: x).map(lambda x: x).catch(lambda exc: 1), id="chain"),
    ],
)
def test_cancelling_the_source_cancels_derived_futures(derive: object) -> None:
    source: Future[int] = Future()
    derived = derive(UnifiedFuture.from_future(source))  # type: ignore[operator]
    assert source.cancel()
    assert derived.cancelled()  # the 1.x package left these pending forever
    with pytest.raises(CancelledError):
        derived.result(0)


def test_cancelling_a_plain_source_cancels_from_future() -> None:
    source: Future[int] = Future()
    wrapped = UnifiedFuture.from_future(source)
    source.cancel()
    assert wrapped.cancelled()


def test_cancelling_from_future_cancels_the_source() -> None:
    source: Future[int] = Future()
    wrapped = UnifiedFuture.from_future(source)
    assert wrapped.cancel()
    assert source.cancelled()


@pytest.mark.parametrize(
    "derive",
    [
        pytest.param(lambda f: f.map(lambda x: x), id="map"),
        pytest.param(lambda f: f.catch(lambda exc: 0), id="catch"),
        pytest.param(lambda f: f.then(lambda x: x), id="then"),
        pytest.param(lambda f: f.add_loop_callback(lambda _: None), id="add_loop_callback"),
        pytest.param(lambda f: f.map(lambda x: x).map(lambda x: x), id="chain"),
    ],
)
def test_cancelling_a_derived_future_cancels_its_source(derive: object) -> None:
    """As vsengine 2.0: cancellation travels up the chain (a frame request nobody wants any more)."""
    source: Future[int] = Future()
    wrapped = UnifiedFuture.from_future(source)
    derived = derive(wrapped)  # type: ignore[operator]
    assert derived.cancel()
    assert wrapped.cancelled()
    assert source.cancelled()


@pytest.mark.parametrize(
    "derive",
    [
        pytest.param(lambda f, cb: f.map(str, cb), id="map"),
        pytest.param(lambda f, cb: f.catch(lambda exc: 0, cancel_cb=cb), id="catch"),
        pytest.param(lambda f, cb: f.then(str, None, cb), id="then"),
        pytest.param(lambda f, cb: f.add_loop_callback(lambda _: None, cb), id="add_loop_callback"),
    ],
)
def test_a_cancel_cb_runs_instead_of_cancelling_the_source(derive: object) -> None:
    source: UnifiedFuture[int] = UnifiedFuture()
    calls: list[str] = []
    first = derive(source, lambda: calls.append("cancel_cb"))  # type: ignore[operator]
    second = source.map(lambda x: x * 2)
    assert first.cancel()
    assert calls == ["cancel_cb"]
    source.set_result(3)  # the source and its other derived futures carry on
    assert second.result(0) == 6
    assert first.cancelled()


def test_a_failing_cancel_cb_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("in the cancel_cb")

    with caplog.at_level(logging.ERROR, logger="vsengine.futures"):
        assert UnifiedFuture[int]().map(str, cancel_cb=broken).cancel()
    assert "in the cancel_cb" in caplog.text


def test_cancelling_derived_and_resolving_the_source_concurrently_never_raises() -> None:
    """Races between cancel() and the source completing settle each future exactly once."""
    for _ in range(50):
        source: Future[int] = Future()
        derived = UnifiedFuture.from_future(source).then(lambda x: x + 1)
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def run(
            action: Callable[[], object],
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait(WAIT)
            try:
                action()
            except InvalidStateError:
                pass  # set_result lost against cancel(): expected for the completing side
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(action,))
            for action in (derived.cancel, functools.partial(source.set_result, 1), source.cancel)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert errors == []
        assert derived.done()
        assert derived.cancelled() or derived.result(0) == 2


# -- callbacks -------------------------------------------------------------------------------------


def test_done_callbacks_run_in_the_environment_current_when_added() -> None:
    with Policy(ThreadLocalStore()) as policy, policy.new_environment() as env:
        source: UnifiedFuture[None] = UnifiedFuture()
        seen: list[vs.Core] = []
        with env.use():
            source.add_done_callback(lambda _: seen.append(vs.core.core))
            mapped = source.map(lambda _: vs.core.core)
        completer = threading.Thread(target=source.set_result, args=(None,))
        completer.start()
        completer.join(WAIT)
        assert seen == [env.core]
        assert mapped.result(WAIT) is env.core


def test_adding_callbacks_never_asks_vapoursynth(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is captured from vsengine's own policy, not by asking VapourSynth: that call
    can deadlock when add_done_callback runs in a garbage-collector finalizer inside VapourSynth."""
    with Policy(ThreadLocalStore()) as policy, policy.new_environment() as env:

        def asked() -> vs.Environment:
            raise AssertionError("vapoursynth.get_current_environment() was called")

        monkeypatch.setattr(vs, "get_current_environment", asked)
        source: UnifiedFuture[None] = UnifiedFuture()
        seen: list[vs.Core] = []
        with env.use():
            source.add_done_callback(lambda _: seen.append(vs.core.core))
            mapped = source.map(lambda _: vs.core.core)
            source.add_loop_callback(lambda _: seen.append(vs.core.core))
        completer = threading.Thread(target=source.set_result, args=(None,))
        completer.start()
        completer.join(WAIT)
        assert seen == [env.core, env.core]
        assert mapped.result(WAIT) is env.core


def test_done_callbacks_leave_a_global_store_alone(policy: Policy) -> None:
    """A callback runs in its captured environment for its own thread only: with a GlobalStore,
    the rest of the process keeps its current environment while the callback runs."""
    with policy.new_environment() as captured, policy.new_environment() as current:
        source: UnifiedFuture[None] = UnifiedFuture()
        entered, release = threading.Event(), threading.Event()
        in_callback: list[vs.Core] = []

        def callback(_: Future[None]) -> None:
            in_callback.append(vs.core.core)
            entered.set()
            release.wait(WAIT)

        with captured.use():
            source.add_done_callback(callback)
        with current.use():
            completer = threading.Thread(target=source.set_result, args=(None,))
            completer.start()
            assert entered.wait(WAIT)
            try:
                meanwhile = vs.core.core
            finally:
                release.set()
                completer.join(WAIT)
        assert in_callback == [captured.core]
        assert meanwhile is current.core


def test_adding_a_callback_without_a_policy_registers_none() -> None:
    assert not vs.has_policy()
    seen: list[int] = []
    future: UnifiedFuture[int] = UnifiedFuture()
    future.add_done_callback(lambda f: seen.append(f.result()))
    future.map(seen.append)
    future.set_result(5)
    assert seen == [5, 5]
    assert not vs.has_policy()  # asking VapourSynth would have registered its standalone policy


def test_add_loop_callback_without_a_loop_runs_inline() -> None:
    seen: list[int] = []
    UnifiedFuture.resolve(3).add_loop_callback(lambda f: seen.append(f.result()))
    assert seen == [3]


def test_add_loop_callback_runs_on_the_asyncio_loop(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(length=1)

    async def main() -> tuple[int, int]:
        set_loop(AsyncIOLoop())
        try:
            ran_on: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            frame = UnifiedFuture.from_future(clip.get_frame_async(0))
            frame.add_loop_callback(lambda _: ran_on.set_result(threading.get_ident()))
            return threading.get_ident(), await asyncio.wait_for(ran_on, WAIT)
        finally:
            set_loop(NO_LOOP)

    loop_thread, ran_on = asyncio.run(main())
    assert ran_on == loop_thread


def test_a_failing_loop_callback_fails_the_returned_future_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("in the loop callback")

    with caplog.at_level(logging.ERROR, logger="vsengine.futures"):
        chained = UnifiedFuture.resolve(1).add_loop_callback(broken)
    assert "in the loop callback" in caplog.text
    assert isinstance(chained.exception(0), RuntimeError)


def test_add_loop_callback_returns_a_future_that_completes_after_the_callback(
    manual_loop: ManualLoop,
) -> None:
    """vsview's startup path: ``load_content(...).add_loop_callback(a).add_loop_callback(b)``."""
    events: list[str] = []
    source: UnifiedFuture[int] = UnifiedFuture()
    chained = source.add_loop_callback(lambda f: events.append(f"a saw {f.result()}")).add_loop_callback(
        lambda f: events.append(f"b saw {f.result()}")
    )
    assert isinstance(chained, UnifiedFuture)
    source.set_result(7)
    assert manual_loop.run_pending() == 1
    assert events == ["a saw 7"]
    assert not chained.done()  # b has not run yet
    assert manual_loop.run_pending() == 1
    assert events == ["a saw 7", "b saw 7"]
    assert chained.result(0) == 7


def test_add_loop_callback_of_a_failed_or_cancelled_future() -> None:
    seen: list[str] = []
    error = LookupError("source failed")
    failed = UnifiedFuture.reject(error).add_loop_callback(
        lambda f: seen.append(type(f.exception()).__name__)
    )
    assert failed.exception(0) is error

    source: UnifiedFuture[int] = UnifiedFuture()
    cancelled = source.add_loop_callback(lambda f: seen.append(f"cancelled={f.cancelled()}"))
    source.cancel()
    assert cancelled.cancelled()
    assert seen == ["LookupError", "cancelled=True"]  # the callback runs for every outcome


def test_add_loop_callback_cancelled_before_the_source_completes_skips_the_callback() -> None:
    seen: list[int] = []
    source: UnifiedFuture[int] = UnifiedFuture()
    chained = source.add_loop_callback(lambda f: seen.append(f.result()), cancel_cb=lambda: None)
    assert chained.cancel()
    source.set_result(1)
    assert seen == []


# -- context managers ------------------------------------------------------------------------------


def test_with_delegates_to_the_result() -> None:
    events: list[str] = []

    @contextlib.contextmanager
    def resource() -> Iterator[str]:
        events.append("enter")
        yield "value"
        events.append("exit")

    with UnifiedFuture.resolve(resource()) as value:
        assert value == "value"
    assert events == ["enter", "exit"]


def test_with_on_a_plain_result_explains() -> None:
    with pytest.raises(TypeError, match="not a context manager"), UnifiedFuture.resolve(3):
        pass


def test_async_with_delegates_to_sync_and_async_results() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def async_resource() -> AsyncIterator[str]:
        events.append("async enter")
        yield "async"
        events.append("async exit")

    @contextlib.contextmanager
    def sync_resource() -> Iterator[str]:
        events.append("sync enter")
        yield "sync"
        events.append("sync exit")

    async def main() -> list[str]:
        values = []
        async with UnifiedFuture.resolve(async_resource()) as first:
            values.append(first)
        async with UnifiedFuture.resolve(sync_resource()) as second:
            values.append(second)
        return values

    assert asyncio.run(main()) == ["async", "sync"]
    assert events == ["async enter", "async exit", "sync enter", "sync exit"]


# -- UnifiedIterator -------------------------------------------------------------------------------


def test_iterating_yields_results(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(length=4, format=vs.GRAY8, color=[12])
    frames = list(UnifiedIterator(clip.get_frame_async(n) for n in range(4)))
    assert [frame[0][0, 0] for frame in frames] == [12] * 4


def test_from_call_and_futures() -> None:
    iterator = UnifiedIterator.from_call(lambda n: (UnifiedFuture.resolve(i) for i in range(n)), 3)
    assert next(iterator.futures).result(0) == 0
    assert list(iterator) == [1, 2]


def test_async_iteration() -> None:
    async def main() -> list[int]:
        return [
            value
            async for value in UnifiedIterator(iter([UnifiedFuture.resolve(1), UnifiedFuture.resolve(2)]))
        ]

    assert asyncio.run(main()) == [1, 2]


def test_run_as_completed_keeps_the_order_and_waits() -> None:
    futures: list[UnifiedFuture[int]] = [UnifiedFuture() for _ in range(4)]
    seen: list[int] = []
    done = UnifiedIterator(iter(futures)).run_as_completed(lambda f: seen.append(f.result()))
    for i in (2, 0, 3, 1):  # completion order differs from iteration order
        futures[i].set_result(i)
    assert done.result(WAIT) is None
    assert seen == [0, 1, 2, 3]


def test_run_as_completed_stops_when_the_callback_returns_false() -> None:
    seen: list[int] = []

    def take_two(future: Future[int]) -> bool:
        seen.append(future.result())
        return len(seen) < 2

    done = UnifiedIterator(UnifiedFuture.resolve(i) for i in range(10)).run_as_completed(take_two)
    assert done.result(0) is None
    assert seen == [0, 1]


def test_run_as_completed_reports_callback_and_iterator_errors() -> None:
    def fail(_: Future[int]) -> None:
        raise ValueError("callback")

    assert isinstance(
        UnifiedIterator(iter([UnifiedFuture.resolve(1)])).run_as_completed(fail).exception(0), ValueError
    )

    def broken_iterator() -> Iterator[Future[int]]:
        yield UnifiedFuture.resolve(1)
        raise OSError("iterator")

    done = UnifiedIterator(broken_iterator()).run_as_completed(lambda f: None)
    assert isinstance(done.exception(0), OSError)


def test_cancelling_run_as_completed_stops_it() -> None:
    futures: list[UnifiedFuture[int]] = [UnifiedFuture() for _ in range(3)]
    seen: list[int] = []
    done = UnifiedIterator(iter(futures)).run_as_completed(lambda f: seen.append(f.result()))
    assert done.cancel()
    for i, future in enumerate(futures):
        future.set_result(i)
    assert seen == []


def test_run_as_completed_with_frames(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(length=20, format=vs.GRAY8)
    seen: list[int] = []
    futures = [clip.get_frame_async(n) for n in range(20)]
    done = UnifiedIterator(iter(futures)).run_as_completed(lambda f: seen.append(futures.index(f)))
    done.result(WAIT)
    assert seen == list(range(20))


# -- consume -----------------------------------------------------------------------------------------


def test_consume_calls_back_in_order_with_unified_futures() -> None:
    futures: list[Future[int]] = [Future() for _ in range(4)]
    seen: list[tuple[bool, int]] = []
    done = UnifiedIterator(futures).consume(lambda f: seen.append((isinstance(f, UnifiedFuture), f.result())))
    for i in (2, 0, 3, 1):  # completion order differs from iteration order
        assert not done.done()
        futures[i].set_result(i)
    assert done.result(0) is None
    assert seen == [(True, 0), (True, 1), (True, 2), (True, 3)]


def test_consume_takes_futures_only_as_it_needs_them() -> None:
    futures: list[Future[int]] = [Future(), Future()]
    taken: list[int] = []

    def requests() -> Iterator[Future[int]]:
        for i, future in enumerate(futures):
            taken.append(i)
            yield future

    done = UnifiedIterator(requests()).consume(lambda f: None)
    assert taken == [0]
    futures[0].set_result(0)
    assert taken == [0, 1]
    futures[1].set_result(1)
    assert done.result(0) is None


def test_consume_hands_failed_futures_to_the_callback() -> None:
    futures: list[Future[int]] = [Future(), Future()]
    seen: list[object] = []
    done = UnifiedIterator(futures).consume(lambda f: seen.append(f.exception() or f.result()))
    futures[0].set_exception(KeyError("frame 0"))
    futures[1].set_result(1)
    assert done.result(0) is None
    assert isinstance(seen[0], KeyError)
    assert seen[1] == 1


def test_consume_stops_early_and_reports_errors() -> None:
    rest: list[Future[int]] = [UnifiedFuture.resolve(i) for i in range(5)]
    iterator = iter(rest)
    seen: list[int] = []
    done = UnifiedIterator(iterator).consume(lambda f: seen.append(f.result()) or len(seen) < 2)
    assert done.result(0) is None
    assert seen == [0, 1]
    assert next(iterator).result(0) == 2  # nothing more was taken

    error = ValueError("callback")

    def fail(_: object) -> None:
        raise error

    assert UnifiedIterator([UnifiedFuture.resolve(1)]).consume(fail).exception(0) is error

    def broken() -> Iterator[Future[int]]:
        yield UnifiedFuture.resolve(1)
        raise OSError("iterator")

    assert isinstance(UnifiedIterator(broken()).consume(lambda f: None).exception(0), OSError)


def test_cancelling_consume_stops_it() -> None:
    futures: list[Future[int]] = [Future() for _ in range(2)]
    seen: list[int] = []
    done = UnifiedIterator(futures).consume(lambda f: seen.append(f.result()))
    assert done.cancel()
    for i, future in enumerate(futures):
        future.set_result(i)
    assert seen == []


def test_consume_gives_the_loop_a_cycle_after_each_callback(manual_loop: ManualLoop) -> None:
    seen: list[int] = []
    done = UnifiedIterator(UnifiedFuture.resolve(i) for i in range(3)).consume(
        lambda f: seen.append(f.result())
    )
    manual_loop.run_pending()  # consume starts on the loop
    assert seen == [0]
    manual_loop.complete_cycles()
    manual_loop.run_pending()
    assert seen == [0, 1]
    manual_loop.complete_cycles()
    manual_loop.run_pending()
    manual_loop.complete_cycles()
    manual_loop.run_pending()
    assert seen == [0, 1, 2]
    assert done.result(0) is None


def test_consume_fails_when_a_cycle_fails(manual_loop: ManualLoop) -> None:
    done = UnifiedIterator(UnifiedFuture.resolve(i) for i in range(3)).consume(lambda f: None)
    manual_loop.run_pending()
    manual_loop.cycles.pop().set_exception(Cancelled())
    assert isinstance(done.exception(0), Cancelled)


def test_consume_fails_instead_of_hanging_when_the_loop_cannot_run_it() -> None:
    class ClosedLoop(ManualLoop):
        def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
            future: Future[R] = Future()
            future.set_exception(RuntimeError("the loop is closed"))
            return future

    set_loop(ClosedLoop())
    assert isinstance(
        UnifiedIterator([UnifiedFuture.resolve(1)]).consume(lambda f: None).exception(0), RuntimeError
    )


def test_consume_with_a_future_factory() -> None:
    class State(UnifiedFuture[None]):
        pass

    done = UnifiedIterator([UnifiedFuture.resolve(1)]).consume(lambda f: None, State)
    assert isinstance(done, State)
    assert done.result(0) is None


# -- for_each ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-callback", "async-callback"])
@pytest.mark.parametrize("yield_cycles", [True, False])
def test_for_each_awaits_each_future_in_order(adapter: str, asynchronous: bool, yield_cycles: bool) -> None:
    async def body() -> list[object]:
        late: Future[int] = Future()
        futures: list[Future[int]] = [UnifiedFuture.resolve(1), late, UnifiedFuture.reject(KeyError("3"))]
        threading.Thread(target=late.set_result, args=(2,)).start()
        seen: list[object] = []

        def record(f: UnifiedFuture[int]) -> None:
            assert isinstance(f, UnifiedFuture)
            seen.append(f.exception() or f.result())

        async def record_async(f: UnifiedFuture[int]) -> None:
            await UnifiedFuture.resolve(None)  # one turn of whichever loop runs this
            record(f)

        await UnifiedIterator(futures).for_each(
            record_async if asynchronous else record, yield_cycles=yield_cycles
        )
        return seen

    seen = run_under(adapter, body)
    assert seen[:2] == [1, 2]
    assert isinstance(seen[2], KeyError)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_for_each_stops_early_and_propagates_callback_errors(adapter: str) -> None:
    async def body() -> tuple[list[int], str]:
        seen: list[int] = []

        async def take_two(f: UnifiedFuture[int]) -> bool:
            seen.append(f.result())
            return len(seen) < 2

        await UnifiedIterator(UnifiedFuture.resolve(i) for i in range(5)).for_each(take_two)

        def fail(f: UnifiedFuture[int]) -> None:
            raise ValueError("in the callback")

        try:
            await UnifiedIterator([UnifiedFuture.resolve(0)]).for_each(fail)
        except ValueError as exc:
            return seen, str(exc)
        return seen, "no error"

    assert run_under(adapter, body) == ([0, 1], "in the callback")


def test_for_each_yields_a_cycle_after_each_callback() -> None:
    class CountingLoop(AsyncIOLoop):
        cycles = 0

        def next_cycle(self) -> Future[None]:
            self.cycles += 1
            return super().next_cycle()

    async def main(yield_cycles: bool) -> int:
        loop = CountingLoop()
        set_loop(loop)
        try:
            await UnifiedIterator(UnifiedFuture.resolve(i) for i in range(4)).for_each(
                lambda f: None, yield_cycles=yield_cycles
            )
            return loop.cycles
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main(True)) == 4
    assert asyncio.run(main(False)) == 0


# -- as_completed ------------------------------------------------------------------------------------


def test_as_completed_yields_in_completion_order() -> None:
    async def body() -> list[int]:
        futures: list[Future[int]] = [Future() for _ in range(3)]
        for i in (1, 2, 0):  # runs once as_completed has taken all three and waits
            asyncio.get_running_loop().call_soon(futures[i].set_result, i * 10)
        return [f.result() async for f in as_completed(futures, concurrency=3)]

    assert run_under("asyncio", body) == [10, 20, 0]


def test_as_completed_keeps_at_most_concurrency_futures_in_flight() -> None:
    async def body() -> tuple[list[int], list[int]]:
        futures: list[Future[int]] = [Future() for _ in range(5)]
        taken: list[int] = []
        results: list[int] = []

        def requests() -> Iterator[Future[int]]:
            for i, future in enumerate(futures):
                taken.append(i)
                yield future

        def complete(i: int) -> None:
            futures[i].set_result(i)

        completed = as_completed(requests(), concurrency=2)
        threading.Thread(target=complete, args=(1,)).start()
        first = await anext(completed)
        assert taken == [0, 1]  # only two were taken before one completed
        results.append(first.result())
        for i in (0, 2, 3, 4):
            threading.Thread(target=complete, args=(i,)).start()
            results.append((await anext(completed)).result())
        with pytest.raises(StopAsyncIteration):
            await anext(completed)
        return taken, results

    taken, results = run_under("asyncio", body)
    assert taken == [0, 1, 2, 3, 4]
    assert results == [1, 0, 2, 3, 4]


def test_as_completed_hands_failures_over_as_futures() -> None:
    async def body() -> list[object]:
        futures = [UnifiedFuture.reject(KeyError("bad")), UnifiedFuture.resolve(1)]
        return [f.exception() or f.result() async for f in as_completed(futures)]

    first, second = run_under("asyncio", body)
    assert isinstance(first, KeyError)
    assert second == 1


def test_leaving_as_completed_early_cancels_what_is_in_flight() -> None:
    async def body() -> list[bool]:
        futures: list[Future[int]] = [Future() for _ in range(4)]
        futures[0].set_result(0)
        async with contextlib.aclosing(as_completed(futures, concurrency=3)) as completed:
            async for _ in completed:
                break
        return [f.cancelled() for f in futures]

    assert run_under("asyncio", body) == [False, True, True, False]  # the fourth was never taken


def test_as_completed_checks_its_arguments_at_the_call() -> None:
    with pytest.raises(ValueError, match="concurrency must be greater than 0"):
        as_completed([], concurrency=0)
    with pytest.raises(TypeError, match="concurrency must be an int"):
        as_completed([], concurrency=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        as_completed(42)  # type: ignore[arg-type]


def test_as_completed_of_nothing_and_the_iterator_method() -> None:
    async def body() -> tuple[list[object], list[int]]:
        nothing = [f async for f in as_completed([])]
        iterator = UnifiedIterator(UnifiedFuture.resolve(i) for i in range(3))
        values = sorted([f.result() async for f in iterator.as_completed(concurrency=2)])
        return nothing, values

    assert run_under("asyncio", body) == ([], [0, 1, 2])
    assert vsengine.as_completed is as_completed
    assert vsengine.futures.as_completed is as_completed


# -- @unified --------------------------------------------------------------------------------------


def test_unified_picks_the_kind_automatically() -> None:
    @unified
    def single(x: int) -> Future[int]:
        return UnifiedFuture.resolve(x)

    @unified()
    def several(n: int) -> Iterator[Future[int]]:
        for i in range(n):
            yield UnifiedFuture.resolve(i)

    assert isinstance(single(1), UnifiedFuture)
    assert single(7).result(0) == 7
    assert isinstance(several(3), UnifiedIterator)
    assert list(several(3)) == [0, 1, 2]
    assert single.__name__ == "single"


def test_unified_explicit_kinds() -> None:
    @unified(kind="generator")
    def returns_an_iterator() -> Iterator[Future[int]]:
        return iter([UnifiedFuture.resolve(4)])

    @unified(kind="future")
    def plain() -> Future[str]:
        future: Future[str] = Future()
        future.set_result("plain")
        return future

    assert list(returns_an_iterator()) == [4]
    assert isinstance(plain(), UnifiedFuture)
    assert plain().result(0) == "plain"


def test_unified_turns_exceptions_into_failed_futures() -> None:
    @unified
    def broken() -> Future[int]:
        raise PermissionError("denied")

    assert isinstance(broken().exception(0), PermissionError)


def test_unified_custom_classes() -> None:
    class MyFuture(UnifiedFuture[int]):
        pass

    @unified(future_class=MyFuture)
    def value() -> Future[int]:
        return UnifiedFuture.resolve(1)

    assert isinstance(value(), MyFuture)


def test_unified_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="'auto', 'future' or 'generator'"):
        unified(kind="coroutine")  # type: ignore[call-overload]


# -- no reference cycles ---------------------------------------------------------------------------
# A result (a frame, 3 MB of bytes) must be freed by reference counting as soon as its last user lets
# go of it. A reference cycle through the futures' done-callbacks would keep it until the garbage
# collector runs, which is how a render held hundreds of megabytes. The garbage collector is off in
# these tests, so a cycle keeps its objects forever and the weak references stay alive.


class _Result:
    """A result that a weak reference can watch."""


@contextlib.contextmanager
def _no_garbage_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_from_future_leaves_no_cycle() -> None:
    with _no_garbage_collector():
        value = _Result()
        value_ref = weakref.ref(value)
        source: Future[_Result] = Future()
        wrapped = UnifiedFuture.from_future(source)
        wrapped_ref = weakref.ref(wrapped)
        source.set_result(value)
        del value
        assert isinstance(wrapped.result(0), _Result)
        del source, wrapped
        assert wrapped_ref() is None
        assert value_ref() is None


@pytest.mark.parametrize(
    ("derive", "fail"),
    [
        pytest.param(lambda f: f.map(lambda x: x), False, id="map"),
        pytest.param(lambda f: f.map(lambda x: x), True, id="map-failed"),
        pytest.param(lambda f: f.catch(lambda exc: _Result()), True, id="catch"),
        pytest.param(lambda f: f.then(lambda x: x, None), False, id="then"),
        pytest.param(lambda f: f.then(None, None), False, id="then-passthrough"),
        pytest.param(lambda f: f.map(lambda x: x).map(lambda x: x).catch(lambda exc: 1), False, id="chain"),
    ],
)
def test_chaining_leaves_no_cycle(derive: object, fail: bool) -> None:
    with _no_garbage_collector():
        value = _Result()
        value_ref = weakref.ref(value)
        source: UnifiedFuture[_Result] = UnifiedFuture()
        source_ref = weakref.ref(source)
        derived = derive(source)  # type: ignore[operator]
        if fail:
            source.set_exception(LookupError("failed"))
        else:
            source.set_result(value)
        del value
        assert derived.done()
        del source, derived
        assert source_ref() is None
        assert value_ref() is None


def test_add_loop_callback_leaves_no_cycle() -> None:
    with _no_garbage_collector():
        seen: list[bool] = []
        future: UnifiedFuture[_Result] = UnifiedFuture()
        future_ref = weakref.ref(future)
        future.add_loop_callback(lambda f: seen.append(isinstance(f.result(), _Result)))
        future.set_result(_Result())
        del future
        assert seen == [True]
        assert future_ref() is None


def test_run_as_completed_leaves_no_cycle() -> None:
    with _no_garbage_collector():
        pending: UnifiedFuture[_Result] = UnifiedFuture()
        iterator = UnifiedIterator(iter([UnifiedFuture.resolve(_Result()), pending]))
        iterator_ref = weakref.ref(iterator)
        done = iterator.run_as_completed(lambda f: None)
        pending.set_result(_Result())
        assert done.result(0) is None
        del iterator, pending, done
        assert iterator_ref() is None


@pytest.mark.parametrize("method", ["consume", "run_as_completed"])
def test_a_cancelled_consume_leaves_no_cycle(method: str) -> None:
    """Cancelled half-way over a list of futures: the results that still arrive are freed at once."""
    with _no_garbage_collector():
        futures: list[Future[_Result]] = [UnifiedFuture.resolve(_Result()), Future(), Future()]
        done = getattr(UnifiedIterator(futures), method)(lambda f: None)
        assert done.cancel()
        late = _Result()
        late_ref = weakref.ref(late)
        futures[1].set_result(late)  # completes after the cancellation, as a frame would
        del late, futures, done
        assert late_ref() is None


def test_leaving_as_completed_early_leaves_no_cycle() -> None:
    """Futures still in flight when the generator closes: their results are freed at once."""

    async def body() -> bool:
        running: Future[_Result] = Future()
        running.set_running_or_notify_cancel()  # like a frame request: cannot be cancelled
        completed = as_completed([UnifiedFuture.resolve(_Result()), running], concurrency=2)
        await anext(completed)
        await completed.aclose()
        late = _Result()
        late_ref = weakref.ref(late)
        running.set_result(late)
        del late, running, completed
        return late_ref() is None

    with _no_garbage_collector():
        assert run_under("asyncio", body) is True


def _set_when(go: threading.Event, future: Future[_Result], value: _Result) -> None:
    if go.wait(WAIT):
        future.set_result(value)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("kind", ["unified", "from_future", "async_for"])
def test_awaiting_leaves_no_cycle(adapter: str, kind: str) -> None:
    """``await`` (and ``async for``) through every adapter frees the result once the caller drops it."""

    async def body() -> tuple[bool, bool]:
        value = _Result()
        value_ref = weakref.ref(value)
        source: Future[_Result] = UnifiedFuture() if kind == "unified" else Future()
        source_ref = weakref.ref(source)
        # Completed from another thread (as VapourSynth completes frames), once this coroutine is
        # suspended waiting for it: `go` is set by the loop, which only runs while we wait.
        go = threading.Event()
        setter = threading.Thread(target=_set_when, args=(go, source, value))
        del value
        setter.start()
        get_loop().from_thread(go.set)
        if kind == "async_for":
            async for got in UnifiedIterator(iter([source])):
                assert isinstance(got, _Result)
        else:
            got = await UnifiedFuture.from_future(source)
            assert isinstance(got, _Result)
        setter.join(WAIT)
        del got, source, setter
        # One more turn of the loop: asyncio's task wake-up holds the awaited future (transiently,
        # not in a cycle) until the step that resumed this coroutine ends.
        await UnifiedFuture.resolve(None)
        return source_ref() is None, value_ref() is None

    with _no_garbage_collector():
        assert run_under(adapter, body) == (True, True)
