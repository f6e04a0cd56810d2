"""Frames to the Qt thread: order, seeking, coalesced wake-ups, errors, the prefetch window."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs
from vsqt_helpers import STEP_TIMEOUT, in_thread, run, wait_for_signal, wait_until

import qtinter
from vsengine import _compat
from vsengine_qt import Delivered, FrameStream, ManualClock, frames
from vsengine_qt._qt import QtCore, Signal, Slot

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

    async def main() -> tuple[list[Delivered], int, int]:
        stream = FrameStream(probe.node, prefetch=5)
        got: list[Delivered] = []
        finished: list[bool] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(Delivered(n, value, seconds)))
        stream.finished.connect(lambda: finished.append(True))
        stream.seek(5, 15)
        await wait_for_signal(stream.finished) if not finished else None
        unreleased = stream.pump.unreleased  # nothing requested that could still arrive
        stream.close()
        return got, len(finished), unreleased

    got, finished, unreleased = run(main())
    assert numbers(got) == list(range(5, 15))
    assert finished == 1
    assert unreleased == 0
    assert sorted(probe.rendered) == list(range(5, 15))  # nothing else was asked of VapourSynth


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

    async def main() -> tuple[list[int], list[int]]:
        loop = asyncio.get_running_loop()
        stream = FrameStream(clip, prefetch=16)
        got: list[int] = []
        waiting_behind_frame_0: list[int] = []
        seen_by_next_callback: list[int] = []

        def on_frame(n: int, value: Any, seconds: float) -> None:
            got.append(n)
            if n == 0:
                waiting_behind_frame_0.append(stream.pump.buffered)
                loop.call_soon(lambda: seen_by_next_callback.append(len(got)))

        stream.frameReady.connect(on_frame)
        stream.seek(0)
        # The Qt thread stays busy (blocked here) until VapourSynth has handed all 16 frames over
        # (each completion appends to the stream's inbox); the deadline only bounds a failure.
        inbox = stream.pump._mailbox.inbox
        deadline = time.monotonic() + STEP_TIMEOUT
        while len(inbox) < 16:
            assert time.monotonic() < deadline, f"only {len(inbox)} of 16 frames completed"
            time.sleep(0.001)
        await wait_for_signal(stream.finished) if stream.running else None
        stream.close()
        return waiting_behind_frame_0, seen_by_next_callback

    waiting_behind_frame_0, seen_by_next_callback = run(main())
    # The dispatch that delivered frame 0 had taken all 16 from the inbox: 15 waited behind it (one
    # dispatch per frame would find none), and the callback scheduled then ran after all 16.
    assert waiting_behind_frame_0 == [15]
    assert seen_by_next_callback == [16]


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

    async def main() -> tuple[int, int, int, bool]:
        async with frames(probe.node, prefetch=2, backlog=4) as iterator:
            first = await anext(iterator)
            assert first.n == 0
            # Not consuming: the backlog fills up (frame 0 was released: 4 more), then nothing moves:
            # once the four are in, nothing is requested or in flight beyond them.
            await wait_until(lambda: iterator.buffered == 4)
            unreleased, rendered_while_idle = iterator.pump.unreleased, len(probe.rendered)
        return unreleased, rendered_while_idle, iterator.buffered, iterator.pump.running

    unreleased, rendered_while_idle, buffered_after_close, running_after_close = run(main())
    assert unreleased == 4
    assert rendered_while_idle == 1 + 4  # frame 0, released, and the four frames of the backlog
    assert buffered_after_close == 0  # closing dropped them
    assert not running_after_close  # and requests no more


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


@pytest.mark.skipif(not _compat.ENABLED, reason="thread states are kept on Linux/glibc, CPython 3.12")
@pytest.mark.parametrize("front_end", ["stream", "async-for", "bundle"])
def test_vapoursynths_threads_keep_their_python_thread_state(env: ManagedEnvironment, front_end: str) -> None:
    """The completions keep the worker thread's Python thread state (VapourSynth makes a new one per
    callback otherwise, half the cost of a callback): a later frame's transform on the same thread
    sees the thread-local mark an earlier one left. tests/vsengine/test_compat.py checks they are
    freed with the core."""
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=200, keep=True)
    local = threading.local()
    remembered: list[bool] = []

    def transform(frame: vs.VideoFrame) -> int:
        remembered.append(getattr(local, "mark", False))
        local.mark = True
        return frame.width

    async def main() -> int:
        if front_end == "async-for":
            async with frames(clip, transform=transform) as iterator:
                return len([d async for d in iterator])
        node = [clip, clip] if front_end == "bundle" else clip
        stream = FrameStream(node, transform=transform)
        got: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.seek(0)
        while stream.running:
            await wait_for_signal(stream.finished)
        stream.close()
        return len(got)

    assert run(main()) == 200
    assert any(remembered)


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
        frames(clip)


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
        await wait_until(lambda: len(got) == 2)
        while_paused = list(got)
        requested_while_paused = stream.pump.unreleased + len(got)  # delivered, or asked for since
        stream.resume()
        await wait_for_signal(stream.finished)
        stream.close()
        return while_paused, requested_while_paused, got

    while_paused, requested_while_paused, got = run(main())
    assert while_paused == [0, 1]
    assert requested_while_paused == 2
    assert got == list(range(20))


def test_dropping_a_stream_with_frames_in_flight(env: ManagedEnvironment) -> None:
    """The frames still rendering hold no reference to the stream: it goes away at once (on the Qt
    thread), and their completions are dropped quietly."""
    probe = Probe(50, lambda n: 0.02)

    async def main() -> list[int]:
        got: list[int] = []
        stream = FrameStream(probe.node, prefetch=8)
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.seek(0)
        gone = weakref.ref(stream)
        # The eight completions and the queued wake-up of the Qt thread hold the stream's mailbox
        # (not the stream): it goes away once all eight have arrived and been dropped on this thread.
        mailbox = weakref.ref(stream.pump._mailbox)
        del stream
        gc.collect()
        assert gone() is None, "the frames in flight keep the stream alive"
        await wait_until(lambda: mailbox() is None)
        return got

    assert run(main()) == []
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


# -- reliability (issue 13) ------------------------------------------------------------------------------

#: A script with frames still rendering when the application goes away; {binding} and {ending} are filled in.
_GONE = """
import asyncio, sys, time
import {binding}.QtWidgets as W
import vapoursynth as vs
import qtinter, vsengine_qt

app = W.QApplication([])

def slow_node(session):
    env = session.policy.new_environment()
    with env.use():
        clip = vs.core.std.BlankClip(width=640, height=480, length=100000)
        def slow(n):
            time.sleep(0.002)
            return clip
        return vs.core.std.FrameEval(clip, slow)

def stream_until_frame_5(session, quit):
    stream = vsengine_qt.FrameStream(slow_node(session), prefetch=16)
    got = []
    stream.frameReady.connect(lambda n, f, s: (got.append(n), quit() if n == 5 else None))
    stream.seek(0)
    return stream, got

{ending}
"""

_ENDINGS = {
    # A script that never closes its session: frames complete while the interpreter exits.
    "unclosed-session": """
session = vsengine_qt.setup()
stream, got = stream_until_frame_5(session, app.quit)
app.exec()
print("delivered", len(got), flush=True)
""",
    # QApplication.exit() in owner mode while frames render.
    "exit-in-owner-mode": """
async def main():
    with vsengine_qt.setup() as session:
        stream, got = stream_until_frame_5(session, lambda: W.QApplication.exit(0))
        try:
            await asyncio.sleep(30)
        finally:
            print("delivered", len(got), flush=True)
try:
    asyncio.run(main(), loop_factory=qtinter.new_event_loop)
except RuntimeError:
    pass  # qtinter says Qt refused to run its loop after exit(): not what this test is about
""",
}


@pytest.mark.parametrize("ending", list(_ENDINGS))
def test_frames_in_flight_when_the_application_is_gone(ending: str) -> None:
    """The process exits normally (PyQt6 segfaulted in 6 of 6 runs: a completion emitted to Qt after PyQt
    had destroyed the application). The session left open is closed at exit, before Qt is torn down,
    so no frame is rendering any more then. Several runs, in children (side by side: each is mostly
    interpreter and import start-up)."""
    script = _GONE.format(binding=qtinter.bindings.__binding__, ending=_ENDINGS[ending])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    try:
        outputs = [(child.communicate(timeout=120), child.returncode) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    for (stdout, stderr), returncode in outputs:
        assert returncode == 0, stderr[-2000:]
        delivered = re.search(r"delivered (\d+)", stdout)
        assert delivered is not None, stdout
        assert int(delivered.group(1)) >= 6  # the drain that quit may deliver a few more


def test_frames_on_threads_that_reuse_an_earlier_threads_id(env: ManagedEnvironment) -> None:
    """Each new thread gets a waker of its own, also when it has the id of a finished thread (the cached
    waker of the dead thread never delivered: a hang)."""
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=5)

    async def main() -> list[int]:
        async with frames(clip, prefetch=2) as iterator:
            return [d.n async for d in iterator]

    idents: list[int] = []
    results: list[object] = []

    def work() -> None:
        idents.append(threading.get_ident())
        try:
            results.append(run(main(), timeout=STEP_TIMEOUT))
        except BaseException as exc:
            results.append(exc)

    for _ in range(8):
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        thread.join(2 * STEP_TIMEOUT)
        assert not thread.is_alive(), f"frames() hung on thread {len(idents)}"
    assert len(set(idents)) < len(idents)  # ids were reused (what the bug needed)
    assert results == [[0, 1, 2, 3, 4]] * 8


def test_seek_from_another_thread_is_refused(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=10)

    async def main() -> tuple[str, bool, list[int]]:
        stream = FrameStream(clip)
        try:
            error = in_thread(lambda: stream.seek(0)).exception(STEP_TIMEOUT)
            assert isinstance(error, RuntimeError)
            running = stream.running
            got: list[int] = []
            stream.frameReady.connect(lambda n, value, seconds: got.append(n))
            stream.seek(0, 3)
            await wait_for_signal(stream.finished)
            return str(error), running, got
        finally:
            stream.close()

    message, running, got = run(main())
    assert "seek() was called from thread" in message
    assert "on the thread that created it" in message
    assert not running
    assert got == [0, 1, 2]


def test_default_prefetch_does_not_create_vapoursynths_standalone_core() -> None:
    """Without an environment it answers without touching VapourSynth, so a policy registers afterwards."""
    code = (
        "import vapoursynth as vs\n"
        "from vsengine.policy import GlobalStore, Policy\n"
        "import vsengine_qt\n"
        "print(vsengine_qt.default_prefetch(), vs.has_policy())\n"
        "with Policy(GlobalStore()) as policy, policy.new_environment() as env, env.use():\n"
        "    print(vsengine_qt.default_prefetch() == max(4, 2 * vs.core.num_threads))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "QTINTERBINDING": qtinter.bindings.__binding__},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "False", "True"]


# -- for previewers: manual release, bundles, paced playback, other threads --------------------------------


async def frames_ready(stream: FrameStream, count: int) -> None:
    """Wait until frame 0 of a play() is delivered (it goes at once) and ``count`` frames wait in the
    stream to be delivered. Frames render on other threads and complete in any order: ``count``
    frames can be waiting while frame 0 still renders."""
    for _ in range(int(STEP_TIMEOUT / 0.001)):
        if stream.position >= 1 and stream.pump.buffered >= count:
            return
        await asyncio.sleep(0.001)
    raise TimeoutError(f"{count} frames were not rendered in time")


def test_manual_release_holds_the_backlog(env: ManagedEnvironment) -> None:
    probe = Probe(12)

    async def main() -> list[object]:
        stream = FrameStream(probe.node, prefetch=2, backlog=4, auto_release=False)
        got: list[int] = []
        four = asyncio.Event()
        stream.frameReady.connect(lambda n, value, seconds: (got.append(n), len(got) == 4 and four.set()))
        stream.seek(0)
        await asyncio.wait_for(four.wait(), STEP_TIMEOUT)
        held = (list(got), stream.pump.unreleased, stream.pump.buffered)
        with pytest.raises(ValueError, match="only 4 delivered frame"):
            stream.release(5)
        stream.release(2)  # two more may come now, and only two
        while len(got) < 6:
            await wait_for_signal(stream.frameReady)
        after_two = (list(got), stream.pump.unreleased)
        stream.frameReady.connect(lambda n, value, seconds: stream.release())  # from now on, at once
        stream.release(4)
        if stream.running:
            await wait_for_signal(stream.finished)
        stream.close()
        return [held, after_two, got]

    held, after_two, got = run(main())
    assert held == ([0, 1, 2, 3], 4, 0)  # four delivered and held: nothing else requested
    assert after_two == ([0, 1, 2, 3, 4, 5], 4)
    assert got == list(range(12))


def test_a_bundle_delivers_every_node_of_a_frame_number_together(env: ManagedEnvironment) -> None:
    main_clip = Probe(8, out_of_order)
    alpha = Probe(10)  # longer: the bundle ends with the shortest node

    async def main() -> list[Delivered]:
        got: list[Delivered] = []
        async with frames([main_clip.node, alpha.node], prefetch=3) as iterator:
            async for delivered in iterator:
                got.append(delivered)
        return got

    got = run(main())
    assert [d.n for d in got] == list(range(8))
    for delivered in got:
        first, second = delivered.value
        assert first.props["Num"] == second.props["Num"] == delivered.n


def test_a_bundle_of_one_node_delivers_tuples(env: ManagedEnvironment) -> None:
    # A previewer passes [clip] or [clip, alpha] and unpacks the tuple either way (vs-preview's port).
    clip = Probe(3)

    async def main() -> list[object]:
        stream = FrameStream([clip.node], prefetch=2)
        got: list[object] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(value))
        stream.seek(0)
        await wait_for_signal(stream.finished)
        stream.close()
        return got

    got = run(main())
    assert [type(value) for value in got] == [tuple] * 3
    assert [value[0].props["Num"] for value in got] == [0, 1, 2]  # type: ignore[index]


def test_a_bundle_fails_when_one_of_its_nodes_fails(env: ManagedEnvironment) -> None:
    good, broken = Probe(5), Probe(5, fail_at=2)

    async def main() -> tuple[list[int], list[tuple[int, str]]]:
        stream = FrameStream([good.node, broken.node], prefetch=4)
        got: list[int] = []
        failures: list[tuple[int, str]] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.frameFailed.connect(lambda n, error: failures.append((n, str(error))))
        stream.seek(0)
        await wait_for_signal(stream.finished)
        stream.close()
        return got, failures

    got, failures = run(main())
    assert got == [0, 1, 3, 4]
    assert len(failures) == 1
    assert failures[0][0] == 2
    assert "frame 2 is broken" in failures[0][1]


def test_play_paces_frames_at_the_clips_rate(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=6, fpsnum=24, fpsden=1)
    clock = ManualClock()

    async def main() -> list[list[int]]:
        stream = FrameStream(clip, prefetch=6, clock=clock)
        got: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.play(0)
        await frames_ready(stream, 5)  # frame 0 went at once; 1..5 wait for their time
        seen = [list(got)]
        clock.advance(0.5 / 24)
        seen.append(list(got))
        clock.advance(0.5 / 24)  # t = 1/24: frame 1 is due
        seen.append(list(got))
        clock.advance(2 / 24)
        seen.append(list(got))
        clock.advance(10)
        seen.append(list(got))
        seen.append([int(stream.running)])
        stream.close()
        return seen

    assert run(main()) == [[0], [0], [0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5], [0]]


def test_play_shows_every_frame_or_drops_late_ones(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=8, fpsnum=10, fpsden=1)

    async def play(policy: str) -> tuple[list[int], list[int]]:
        clock = ManualClock()
        stream = FrameStream(clip, prefetch=8, clock=clock)
        got: list[int] = []
        dropped: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.frameDropped.connect(dropped.append)
        stream.play(0, policy=policy)  # type: ignore[arg-type]
        await frames_ready(stream, 7)
        clock.jump(0.35)  # the Qt thread was busy for 3.5 frame durations
        clock.advance(10)
        stream.close()
        return got, dropped

    async def main() -> list[tuple[list[int], list[int]]]:
        return [await play("every"), await play("drop")]

    every, drop = run(main())
    assert every == (list(range(8)), [])
    # Frames 1 and 2 ended at 0.2 and 0.3 s: too late at 0.35 s. Frame 3 (0.3-0.4 s) is still shown.
    assert drop == ([0, 3, 4, 5, 6, 7], [1, 2])


def test_play_catch_up_shows_every_frame_on_the_timeline(env: ManagedEnvironment) -> None:
    """After a late frame, "every" keeps the spacing after it (later and later); "catch_up" shows the
    frames that are due at once and is back on the clip's timeline (what a clock that waited for the
    late frame needs: the previewer's audio)."""
    clip = vs.core.std.BlankClip(
        width=16, height=16, format=vs.GRAY8, length=8, fpsnum=8, fpsden=1
    )  # binary-exact times

    async def play(policy: str) -> list[list[int]]:
        clock = ManualClock()
        stream = FrameStream(clip, prefetch=8, clock=clock)
        got: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.play(0, policy=policy)  # type: ignore[arg-type]
        await frames_ready(stream, 7)
        clock.jump(0.4375)  # the clock was held for 3.5 frame durations
        seen = [list(got)]
        clock.advance(0.0625)  # t = 0.5: frame 4 is due
        seen.append(list(got))
        clock.advance(10)
        seen.append(list(got))
        stream.close()
        return seen

    async def main() -> list[list[list[int]]]:
        return [await play("every"), await play("catch_up")]

    every, catch_up = run(main())
    assert every == [[0, 1], [0, 1], list(range(8))]  # frame 2 is due 1/8 s after 1 was shown late
    assert catch_up == [[0, 1, 2, 3], [0, 1, 2, 3, 4], list(range(8))]


def test_play_follows_frame_durations_of_a_variable_frame_rate_clip(env: ManagedEnvironment) -> None:
    blank = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=4, fpsnum=0, fpsden=1)
    # Frame n lasts (n + 1) / 10 s.
    timed = [vs.core.std.SetFrameProps(blank, _DurationNum=n + 1, _DurationDen=10) for n in range(4)]
    vfr = vs.core.std.FrameEval(blank, lambda n: timed[n])
    clock = ManualClock()

    async def main() -> list[tuple[float, list[int]]]:
        stream = FrameStream(vfr, prefetch=4, clock=clock)
        got: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.play(0)
        await frames_ready(stream, 3)
        seen = []
        for step in (0.099, 0.001, 0.199, 0.001, 0.3):  # frame 1 due at 0.1 s, 2 at 0.3 s, 3 at 0.6 s
            clock.advance(step)
            seen.append((round(clock.now(), 3), list(got)))
        stream.close()
        return seen

    assert run(main()) == [
        (0.099, [0]),
        (0.1, [0, 1]),
        (0.299, [0, 1]),
        (0.3, [0, 1, 2]),
        (0.6, [0, 1, 2, 3]),
    ]


def test_play_with_fps_0_follows_frame_durations_of_a_clip_that_declares_a_rate(
    env: ManagedEnvironment,
) -> None:
    # vs-preview's "variable fps" switch: a 24 fps clip whose frames say how long each one lasts.
    blank = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=3, fpsnum=24, fpsden=1)
    timed = [vs.core.std.SetFrameProps(blank, _DurationNum=n + 1, _DurationDen=10) for n in range(3)]
    clip = vs.core.std.FrameEval(blank, lambda n: timed[n])
    clock = ManualClock()

    async def main() -> list[tuple[float, list[int]]]:
        stream = FrameStream(clip, prefetch=3, clock=clock)
        got: list[int] = []
        stream.frameReady.connect(lambda n, value, seconds: got.append(n))
        stream.play(0, fps=0)
        await frames_ready(stream, 2)
        seen = []
        for step in (0.099, 0.001, 0.2):  # frame 1 due at 0.1 s (not 1/24 s), frame 2 at 0.3 s
            clock.advance(step)
            seen.append((round(clock.now(), 3), list(got)))
        stream.close()
        return seen

    assert run(main()) == [(0.099, [0]), (0.1, [0, 1]), (0.3, [0, 1, 2])]


def test_play_of_a_vfr_clip_without_durations_fails_the_frame(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=2, fpsnum=0, fpsden=1)

    async def main() -> list[tuple[int, str]]:
        stream = FrameStream(clip, clock=ManualClock())
        failures: list[tuple[int, str]] = []
        stream.frameFailed.connect(lambda n, error: failures.append((n, str(error))))
        stream.play(0)
        await wait_for_signal(stream.finished)
        stream.close()
        return failures

    failures = run(main())
    assert [n for n, _ in failures] == [0, 1]
    assert "has no _DurationNum/_DurationDen properties" in failures[0][1]


def test_a_stream_on_a_worker_qthread_delivers_there_without_asyncio(env: ManagedEnvironment) -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.GRAY8, length=10)
    got: list[tuple[int, int]] = []
    done = threading.Event()

    class Worker(QtCore.QObject):
        start = Signal()

        def __init__(self) -> None:
            super().__init__()
            self.stream: FrameStream | None = None

        @Slot()
        def run(self) -> None:  # on the worker thread: no asyncio loop runs there
            self.stream = FrameStream(clip, prefetch=4)
            self.stream.frameReady.connect(lambda n, value, seconds: got.append((n, threading.get_ident())))
            self.stream.finished.connect(done.set)
            self.stream.seek(0)

    thread = QtCore.QThread()
    worker = Worker()
    worker.moveToThread(thread)
    worker.start.connect(worker.run)  # a slot of an object on the worker thread: runs there
    thread.start()
    try:
        worker.start.emit()
        assert done.wait(STEP_TIMEOUT)
    finally:
        thread.quit()
        thread.wait()
    assert [n for n, _ in got] == list(range(10))
    assert {ident for _, ident in got} != {threading.get_ident()}
    assert len({ident for _, ident in got}) == 1
