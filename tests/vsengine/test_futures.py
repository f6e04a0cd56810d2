"""vsengine.futures: UnifiedFuture, UnifiedIterator and @unified (also as vsengine._futures)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import weakref
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING

import pytest
import vapoursynth as vs
from _helpers import ADAPTERS, run_under

import vsengine._futures
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.futures import UnifiedFuture, UnifiedIterator, unified
from vsengine.loops import NO_LOOP, get_loop, set_loop
from vsengine.policy import Policy, ThreadLocalStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from vsengine.policy import ManagedEnvironment

WAIT = 10.0


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


def test_cancelling_a_derived_future_leaves_the_source_alone() -> None:
    source: UnifiedFuture[int] = UnifiedFuture()
    first, second = source.map(str), source.map(lambda x: x * 2)
    assert first.cancel()
    source.set_result(3)
    assert second.result(0) == 6


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


def test_a_failing_loop_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("in the loop callback")

    with caplog.at_level(logging.ERROR, logger="vsengine.futures"):
        UnifiedFuture.resolve(1).add_loop_callback(broken)
    assert "in the loop callback" in caplog.text


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
