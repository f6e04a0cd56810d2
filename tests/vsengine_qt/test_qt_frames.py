"""Frames to the Qt thread: order, seeking, coalesced wake-ups, errors, the prefetch window."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs
from vsqt_helpers import STEP_TIMEOUT, run, wait_for_signal

import qtinter
from vsengine_qt import Delivered, FrameStream, frames

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from vsengine.policy import ManagedEnvironment, Policy


@pytest.fixture
def env(policy: Policy) -> Iterator[ManagedEnvironment]:
    with policy.new_environment() as environment, environment.use():
        yield environment


class Probe:
    """A clip whose frame n carries the property Num=n, takes ``delay(n)`` seconds to render, and
    counts how many frames VapourSynth was asked for."""

    def __init__(
        self, length: int, delay: Callable[[int], float] = lambda n: 0.0, fail_at: int | None = None
    ):
        self.rendered: list[int] = []
        self._lock = threading.Lock()
        blank = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=length)
        numbered = [vs.core.std.SetFrameProps(blank, Num=n) for n in range(length)]

        def select(n: int) -> vs.VideoNode:
            with self._lock:
                self.rendered.append(n)
            time.sleep(delay(n))
            if n == fail_at:
                raise ValueError(f"frame {n} is broken")
            return numbered[n]

        self.node = vs.core.std.FrameEval(blank, select)


def numbers(delivered: list[Delivered]) -> list[int]:
    assert all(d.value.props["Num"] == d.n for d in delivered)
    return [d.n for d in delivered]


def out_of_order(n: int) -> float:
    return 0.02 if n % 3 == 0 else 0.0  # every third frame finishes after its successors


def test_async_iterator_delivers_in_order_on_the_qt_thread(env: ManagedEnvironment) -> None:
    probe = Probe(30, out_of_order)

    async def main() -> tuple[list[Delivered], bool]:
        qt_thread = threading.get_ident()
        got: list[Delivered] = []
        on_loop_thread = True
        async with frames(probe.node, prefetch=6) as iterator:
            async for delivered in iterator:
                on_loop_thread &= threading.get_ident() == qt_thread
                got.append(delivered)
        return got, on_loop_thread

    got, on_loop_thread = run(main())
    assert numbers(got) == list(range(30))
    assert on_loop_thread
    assert all(d.seconds >= 0 for d in got)


def test_signals_deliver_in_order_then_finished(env: ManagedEnvironment) -> None:
    probe = Probe(20, out_of_order)

    async def main() -> tuple[list[Delivered], int]:
        stream = FrameStream(probe.node, prefetch=5)
        got: list[Delivered] = []
        finished: list[bool] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(Delivered(n, value, seconds)))
        stream.finished.connect(lambda: finished.append(True))
        stream.seek(5, 15)
        await wait_for_signal(stream.finished) if not finished else None
        await asyncio.sleep(0.05)  # nothing else may arrive
        stream.close()
        return got, len(finished)

    got, finished = run(main())
    assert numbers(got) == list(range(5, 15))
    assert finished == 1


def test_seek_drops_what_is_in_flight_and_continues_elsewhere(env: ManagedEnvironment) -> None:
    probe = Probe(200, lambda n: 0.01)

    async def main() -> list[int]:
        got: list[Delivered] = []
        async with frames(probe.node, prefetch=4, backlog=4) as iterator:
            async for delivered in iterator:
                got.append(delivered)
                if delivered.n == 2:
                    iterator.seek(100, 110)  # frames 3.. are being rendered right now
        return numbers(got)

    assert run(main()) == [0, 1, 2, *range(100, 110)]
    # Only the window was rendered from the old position, never the rest of it.
    assert max(n for n in probe.rendered if n < 100) < 2 + 1 + 4 + 1


def test_stream_seek_from_a_slot(env: ManagedEnvironment) -> None:
    probe = Probe(100, lambda n: 0.005)

    async def main() -> list[int]:
        stream = FrameStream(probe.node, prefetch=3)
        got: list[Delivered] = []

        def on_frame(n: int, value: Any, seconds: float) -> None:
            got.append(Delivered(n, value, seconds))
            if n == 1:
                stream.seek(50, 53)

        stream.frameReady.connect(on_frame)
        stream.seek(0)
        await wait_for_signal(stream.finished)
        stream.close()
        return numbers(got)

    assert run(main()) == [0, 1, 50, 51, 52]


def test_completed_frames_arrive_in_one_qt_dispatch(env: ManagedEnvironment) -> None:
    """Frames that complete while the Qt thread is busy are delivered by one dispatch, not one each."""
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=16)

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        stream = FrameStream(clip, prefetch=16)
        got: list[int] = []
        seen_by_next_callback: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.frameReady.connect(
            lambda n, value, seconds: (
                loop.call_soon(lambda: seen_by_next_callback.append(len(got))) if n == 0 else None
            )
        )
        stream.seek(0)
        time.sleep(0.3)  # the Qt thread is busy; VapourSynth completes all 16 frames meanwhile
        await wait_for_signal(stream.finished) if stream.running else None
        await asyncio.sleep(0)
        stream.close()
        return seen_by_next_callback

    # The callback scheduled when frame 0 arrived ran after all 16 had been delivered.
    assert run(main()) == [16]


def test_a_failing_frame_is_reported_at_its_position(env: ManagedEnvironment) -> None:
    probe = Probe(6, fail_at=3)

    async def main() -> tuple[list[int], list[tuple[int, str]], list[int], list[str]]:
        stream = FrameStream(probe.node, prefetch=4)
        got: list[int] = []
        failures: list[tuple[int, str]] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.frameFailed.connect(lambda n, error: failures.append((n, str(error))))
        stream.seek(0)
        await wait_for_signal(stream.finished)
        stream.close()

        iterated: list[int] = []
        errors: list[str] = []
        async with frames(probe.node, prefetch=4) as iterator:
            while True:
                try:
                    iterated.append((await anext(iterator)).n)
                except StopAsyncIteration:
                    break
                except vs.Error as exc:
                    iterated.append(-1)
                    errors.append(str(exc))
        return got, failures, iterated, errors

    got, failures, iterated, errors = run(main())
    assert got == [0, 1, 2, 4, 5]
    assert [n for n, _ in failures] == [3]
    assert "frame 3 is broken" in failures[0][1]
    assert iterated == [0, 1, 2, -1, 4, 5]
    assert len(errors) == 1
    assert "frame 3 is broken" in errors[0]


def test_a_slow_consumer_holds_the_window(env: ManagedEnvironment) -> None:
    probe = Probe(100)

    async def main() -> tuple[int, int]:
        async with frames(probe.node, prefetch=2, backlog=4) as iterator:
            first = await anext(iterator)
            # Not consuming: the backlog fills up (frame 0 was released: 4 more), then nothing moves.
            for _ in range(200):
                if len(probe.rendered) >= 5:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            rendered_while_idle = len(probe.rendered)
            assert first.n == 0
        await asyncio.sleep(0.1)
        return rendered_while_idle, len(probe.rendered)

    rendered_while_idle, rendered_after_close = run(main())
    assert rendered_while_idle == 1 + 4  # frame 0, released, and the four frames of the backlog
    assert rendered_after_close == rendered_while_idle  # closing stopped the requests


def test_transform_runs_on_vapoursynths_threads(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=8)

    async def main() -> tuple[set[bool], list[int]]:
        qt_thread = threading.get_ident()
        threads: set[bool] = set()

        def transform(frame: vs.VideoFrame) -> int:
            threads.add(threading.get_ident() == qt_thread)
            return frame.width

        async with frames(clip, transform=transform) as iterator:
            values = [d.value async for d in iterator]
        return threads, values

    threads, values = run(main())
    assert threads == {False}
    assert values == [16] * 8


def test_bad_arguments_are_refused_clearly(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(length=10)
    audio = vs.core.std.BlankAudio()

    async def main() -> None:
        with pytest.raises(TypeError, match="audio node"):
            frames(audio)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="prefetch must be at least 1"):
            frames(clip, prefetch=0)
        with pytest.raises(IndexError, match="outside the clip"):
            frames(clip, 11)
        with pytest.raises(IndexError, match="end frame 11"):
            frames(clip, 0, 11)
        stream = FrameStream(clip)
        stream.close()
        with pytest.raises(RuntimeError, match="closed"):
            stream.seek(0)

    run(main())
    with pytest.raises(RuntimeError, match="running asyncio loop"):
        FrameStream(clip)


def test_an_empty_range_finishes_at_once(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(length=10)

    async def main() -> list[Delivered]:
        async with frames(clip, 4, 4) as iterator:
            return [d async for d in iterator]

    assert run(main(), timeout=STEP_TIMEOUT) == []


def test_pause_holds_requests_and_resume_continues(env: ManagedEnvironment) -> None:
    probe = Probe(20)

    async def main() -> tuple[list[int], int, list[int]]:
        stream = FrameStream(probe.node, prefetch=2, backlog=2)
        got: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.seek(0)
        stream.pause()  # the two frames already requested still arrive; nothing more is asked for
        await asyncio.sleep(0.3)
        while_paused = list(got)
        rendered_while_paused = len(probe.rendered)
        stream.resume()
        await wait_for_signal(stream.finished)
        stream.close()
        return while_paused, rendered_while_paused, got

    while_paused, rendered_while_paused, got = run(main())
    assert while_paused == [0, 1]
    assert rendered_while_paused == 2
    assert got == list(range(20))


def test_dropping_a_stream_with_frames_in_flight(env: ManagedEnvironment) -> None:
    """The frames still rendering hold no reference to the stream: it goes away at once (on the Qt
    thread), and their completions are dropped quietly."""
    probe = Probe(50, lambda n: 0.02)

    async def main() -> tuple[bool, list[int]]:
        got: list[int] = []
        stream = FrameStream(probe.node, prefetch=8)
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.seek(0)
        gone = weakref.ref(stream)
        del stream
        gc.collect()
        collected = gone() is None
        await asyncio.sleep(0.4)  # the eight frames in flight complete
        return collected, got

    collected, got = run(main())
    assert collected
    assert got == []
    assert len(probe.rendered) == 8  # nothing was requested after the stream went away


def test_frames_on_a_qtinter_loop_in_native_mode(env: ManagedEnvironment) -> None:
    """No Qt loop runs in native mode (qtinter's clean-up): frames still arrive, through the loop."""
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=5)
    loop = qtinter.new_event_loop()
    loop.set_mode(qtinter.QiLoopMode.NATIVE)

    async def main() -> list[int]:
        async with frames(clip) as iterator:
            return [d.n async for d in iterator]

    try:
        assert loop.run_until_complete(asyncio.wait_for(main(), STEP_TIMEOUT)) == [0, 1, 2, 3, 4]
    finally:
        loop.close()
