"""vsengine.video: frame, planes, frames and render on real VapourSynth clips."""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, cast

import anyio
import pytest
import vapoursynth as vs
from _helpers import ADAPTERS, core, failing_at, gated, numbered_clip, run_under, with_delays

from vsengine.policy import ContextVarStore, ManagedEnvironment, Policy
from vsengine.video import frame, frames, planes, render

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def policy() -> Iterator[Policy]:
    with Policy(ContextVarStore()) as p:
        yield p


@pytest.fixture
def env(policy: Policy) -> Iterator[ManagedEnvironment]:
    with policy.new_environment() as e:
        yield e


def make(env: ManagedEnvironment, build: Any, *args: Any, **kwargs: Any) -> Any:
    with env.use():
        return build(*args, **kwargs)


def scrambled(count: int) -> vs.VideoNode:
    """Numbered frames that finish out of order (frame n takes 0-12 ms, not increasing with n)."""
    return with_delays(numbered_clip(count), lambda n: ((n * 37) % 7) * 0.002)


# -- frame / planes --------------------------------------------------------------------------------


def test_frame_returns_the_requested_frame(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 10)
    with frame(clip, 7, env) as f:
        assert bytes(f[0]) == bytes([7]) * 8
    got = frame(clip, 3, env).result()
    assert bytes(got[0])[0] == 3
    got.close()


def test_frames_are_freed_as_soon_as_the_caller_drops_them(env: ManagedEnvironment) -> None:
    # No reference cycle may hold a frame (and its memory) until the garbage collector runs.
    clip = make(env, numbered_clip, 4)
    gc.disable()
    try:
        single = frame(clip, 1, env).result()
        single_ref = weakref.ref(single)
        del single
        iterated = next(iter(frames(clip, env, prefetch=2)))
        iterated_ref = weakref.ref(iterated)
        del iterated
        # VapourSynth's thread may still be returning from the callback that delivered the frame;
        # once it has let go, nothing may hold the frame (with the garbage collector off, a
        # reference cycle would hold it forever).
        deadline = time.monotonic() + 10
        while (single_ref() is not None or iterated_ref() is not None) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert single_ref() is None
        assert iterated_ref() is None
    finally:
        gc.enable()


def test_frame_uses_the_current_environment_when_none_is_given(env: ManagedEnvironment) -> None:
    with env.use():
        clip = numbered_clip(4)
        assert bytes(frame(clip, 2).result()[0])[0] == 2


def test_frame_without_any_environment_is_a_clear_error(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 4)
    with pytest.raises(RuntimeError, match="no VapourSynth environment is active"):
        frame(clip, 0)


def test_frame_in_a_disposed_environment_is_a_clear_error(policy: Policy) -> None:
    other = policy.new_environment()
    other.dispose()
    with policy.new_environment() as env:
        clip = make(env, numbered_clip, 2)
        with pytest.raises(RuntimeError, match="already disposed"):
            frame(clip, 0, other)


@pytest.mark.parametrize("frameno", [10, 11, 1000, -1])
def test_frame_number_out_of_range(env: ManagedEnvironment, frameno: int) -> None:
    clip = make(env, numbered_clip, 10)
    with pytest.raises(
        IndexError, match=rf"frame {frameno} is out of range: the clip has 10 frames \(valid: 0 to 9\)"
    ):
        frame(clip, frameno, env)
    with pytest.raises(IndexError, match="out of range"):
        planes(clip, frameno, env)


def test_frame_number_must_be_an_int(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 3)
    with pytest.raises(TypeError, match="frame number must be an int, got float"):
        frame(clip, 1.0, env)  # type: ignore[arg-type]


@pytest.mark.parametrize("function", [frame, planes])
def test_audio_nodes_are_refused(env: ManagedEnvironment, function: Any) -> None:
    audio = make(env, lambda: core().std.BlankAudio(length=100))
    with pytest.raises(TypeError, match=r"needs a video node, got an audio node"):
        function(audio, 0, env)


@pytest.mark.parametrize("function", [frames, render])
def test_audio_nodes_are_refused_by_iterators(env: ManagedEnvironment, function: Any) -> None:
    audio = make(env, lambda: core().std.BlankAudio(length=100))
    with pytest.raises(TypeError, match=r"needs a video node, got an audio node"):
        function(audio, env)


def test_frame_errors_reach_the_future(env: ManagedEnvironment) -> None:
    clip = make(env, lambda: failing_at(numbered_clip(3), 1))
    with pytest.raises(vs.Error, match="frame 1 is broken"):
        frame(clip, 1, env).result(timeout=10)


def test_planes_returns_packed_plane_bytes(env: ManagedEnvironment) -> None:
    clip = make(
        env, lambda: core().std.BlankClip(width=6, height=4, format=vs.YUV420P16, color=[1, 2, 3], length=2)
    )
    y, u, v = planes(clip, 1, env).result(timeout=10)
    assert len(y) == 6 * 4 * 2
    assert len(u) == len(v) == 3 * 2 * 2
    assert y == (1).to_bytes(2, sys.byteorder) * 24
    assert v == (3).to_bytes(2, sys.byteorder) * 6
    only = planes(clip, 0, env, planes=[2, 0]).result(timeout=10)
    assert only == (v, y)


def test_planes_rejects_missing_planes(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 2)
    with pytest.raises(IndexError, match="plane 1 is out of range: the frame has 1 planes"):
        planes(clip, 0, env, planes=[1])


# -- frames ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefetch", "backlog"), [(0, None), (1, None), (1, 1), (2, 0), (3, 9), (7, 2), (40, None)]
)
def test_frames_are_in_order_for_any_window(
    env: ManagedEnvironment, prefetch: int, backlog: int | None
) -> None:
    clip = make(env, scrambled, 30)
    seen = [bytes(f[0])[0] for f in frames(clip, env, prefetch=prefetch, backlog=backlog, close=True)]
    assert seen == list(range(30))


def test_frames_close_each_frame_when_the_consumer_moves_on(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 5)
    handed_out: list[vs.VideoFrame] = []
    for f in frames(clip, env, prefetch=2, close=True):
        assert not f.closed
        assert all(previous.closed for previous in handed_out)
        handed_out.append(f)
    assert all(f.closed for f in handed_out)


def test_frames_close_by_default(env: ManagedEnvironment) -> None:
    # As in vsjetengine: a frame is closed once the loop body is done with it.
    clip = make(env, numbered_clip, 3)
    handed_out: list[vs.VideoFrame] = []
    for f in frames(clip, env, prefetch=2):
        assert not f.closed
        assert all(previous.closed for previous in handed_out)
        handed_out.append(f)
    assert all(f.closed for f in handed_out)


def test_frames_stay_open_without_close(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 5)
    handed_out = list(frames(clip, env, prefetch=2, close=False))
    assert [bytes(f[0])[0] for f in handed_out] == [0, 1, 2, 3, 4]
    assert not any(f.closed for f in handed_out)
    for f in handed_out:
        f.close()


def test_frames_stop_at_the_first_error(env: ManagedEnvironment) -> None:
    clip = make(env, lambda: failing_at(numbered_clip(10), 4))
    seen: list[int] = []

    def consume() -> None:
        for f in frames(clip, env, prefetch=3, close=True):
            seen.append(bytes(f[0])[0])

    with pytest.raises(vs.Error, match="frame 4 is broken"):
        consume()
    assert seen == [0, 1, 2, 3]


def test_frames_never_request_beyond_the_backlog(env: ManagedEnvironment) -> None:
    """No frame is requested more than `backlog` frames ahead of the one the consumer is taking.

    Checked at every request, whenever it happens: VapourSynth calls `record(n)` only after frame n
    was requested, and the consumer counts a frame as taken before it asks for it. The consumer holds
    still after frame 0 until the window is full (frames 0..5 requested), so a read-ahead that
    ignored the backlog would run ahead while it waits.
    """
    backlog = 5
    lock = threading.Lock()
    asked = 0  # frames the consumer has asked for so far (it is taking frame asked - 1)
    requested: list[int] = []
    too_far: list[tuple[int, int]] = []
    window_full = threading.Event()

    def build() -> vs.VideoNode:
        clip = numbered_clip(50)

        def record(n: int) -> vs.VideoNode:
            with lock:
                requested.append(n)
                if n > asked - 1 + backlog:
                    too_far.append((n, asked - 1))
                if len(requested) == backlog + 1:
                    window_full.set()
            return clip

        return cast("vs.VideoNode", core().std.FrameEval(clip, record))

    clip = make(env, build)
    iterator = frames(clip, env, prefetch=2, backlog=backlog, close=True)
    taken = []
    for _ in range(50):
        with lock:
            asked += 1
        taken.append(bytes(next(iterator)[0])[0])
        if len(taken) == 1:
            assert window_full.wait(60), f"the window never filled: requested {sorted(requested)}"
    assert taken == list(range(50))
    assert sorted(requested) == list(range(50))
    assert too_far == [], "(frame requested, frame being taken) beyond the backlog"


def test_frames_early_exit_releases_the_environment(policy: Policy) -> None:
    env = policy.new_environment()
    clip = make(env, numbered_clip, 40)
    for n, f in enumerate(frames(clip, env, prefetch=4, close=True)):
        if n == 3:
            break
        assert bytes(f[0])[0] == n
    del clip
    gc.collect()
    env.dispose()


def test_prefetch_none_means_the_thread_count(env: ManagedEnvironment) -> None:
    clip = make(env, numbered_clip, 6)
    assert [bytes(f[0])[0] for f in frames(clip, env, prefetch=None)] == list(range(6))
    assert [n for n, _ in render(clip, env, prefetch=None, backlog=None)] == list(range(1, 7))


def blurred(width: int, height: int, length: int) -> vs.VideoNode:
    blank = core().std.BlankClip(width=width, height=height, format=vs.YUV420P8, length=length)
    return cast("vs.VideoNode", blank.std.BoxBlur(hradius=2))


def _consume(how: str, clip: vs.VideoNode, env: ManagedEnvironment) -> None:
    if how == "frames":
        for f in frames(clip, env):
            assert not f.closed
    elif how == "frames closed early":
        iterator = frames(clip, env, prefetch=4)
        next(iterator)
        iterator.futures.close()  # type: ignore[attr-defined]
    elif how == "frames, async":

        async def body() -> None:
            async for f in frames(clip, env):
                assert not f.closed

        run_under("asyncio", body)
    elif how == "render":
        for _ in render(clip, env, y4m=True):
            pass
    elif how == "planes":
        assert len(planes(clip, 3, env).result()) == 3
    else:
        frame(clip, 3, env).result().close()


@pytest.mark.parametrize(
    "how", ["frames", "frames closed early", "frames, async", "render", "planes", "frame"]
)
def test_unregistering_right_after_the_frames_destroys_the_environment_cleanly(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing of a finished (or closed) call still holds the environment: unregistering the policy
    right afterwards destroys the core without "still in use" (it used to, in about half the runs:
    VapourSynth keeps the node and the frame until its completion callback has returned, which is
    after the consumer was woken up)."""
    for _ in range(10):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="vsengine.policy"), Policy(ContextVarStore()) as policy:
            env = policy.new_environment()
            destroyed = threading.Event()
            with env.inline_section():
                vs.register_on_destroy(destroyed.set)
            clip = make(env, lambda: blurred(64, 48, 20))
            _consume(how, clip, env)
            del clip
        assert destroyed.is_set()
        assert env.disposed
        assert not [r.getMessage() for r in caplog.records if "still in use" in r.getMessage()]


# -- render ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefetch", "backlog"), [(0, -1), (1, -1), (1, 1), (2, None), (3, 0), (4, 12), (9, 3), (64, -1)]
)
def test_render_frame_numbers_match_the_data(
    env: ManagedEnvironment, prefetch: int, backlog: int | None
) -> None:
    clip = make(env, scrambled, 40)
    chunks = list(render(clip, env, prefetch=prefetch, backlog=backlog))
    # Numbered from 1, as vsjetengine numbers them: chunk n holds frame n - 1.
    assert [n for n, _ in chunks] == list(range(1, 41))
    for n, data in chunks:
        assert data == bytes([n - 1]) * 8, f"chunk {n} holds the data of another frame"


def test_render_y4m_stream(env: ManagedEnvironment) -> None:
    clip = make(env, lambda: core().std.BlankClip(width=8, height=4, format=vs.YUV420P8, length=3, fpsnum=25))
    chunks = list(render(clip, env, y4m=True, prefetch=2))
    assert chunks[0] == (0, b"YUV4MPEG2 C420 W8 H4 F25:1 Ip A0:0 XLENGTH=3\n")
    assert [n for n, _ in chunks[1:]] == [1, 2, 3]
    for _, data in chunks[1:]:
        assert data.startswith(b"FRAME\n")
        assert len(data) == len(b"FRAME\n") + 8 * 4 + 2 * (4 * 2)


def test_render_raw_has_no_headers(env: ManagedEnvironment) -> None:
    clip = make(env, lambda: core().std.BlankClip(width=8, height=4, format=vs.YUV444P10, length=2))
    chunks = list(render(clip, env))
    assert [len(data) for _, data in chunks] == [3 * 8 * 4 * 2] * 2


def test_render_handles_padded_planes(env: ManagedEnvironment) -> None:
    # Width 3 leaves padding at the end of every row: the output must be tightly packed.
    clip = make(env, lambda: core().std.BlankClip(width=3, height=2, format=vs.GRAY8, color=[9], length=1))
    assert list(render(clip, env)) == [(1, bytes([9]) * 6)]


def _yuv(bits: int, ssw: int, ssh: int) -> Any:
    return core().query_video_format(vs.YUV, vs.INTEGER, bits, ssw, ssh)


Y4M_TAGS = [
    (vs.GRAY, 8, 0, 0, "Cmono"),
    (vs.GRAY, 10, 0, 0, "Cmono10"),
    (vs.GRAY, 16, 0, 0, "Cmono16"),
    (vs.YUV, 8, 1, 1, "C420"),
    (vs.YUV, 9, 1, 1, "C420p9"),
    (vs.YUV, 10, 1, 1, "C420p10"),
    (vs.YUV, 12, 1, 1, "C420p12"),
    (vs.YUV, 14, 1, 1, "C420p14"),
    (vs.YUV, 16, 1, 1, "C420p16"),
    (vs.YUV, 8, 1, 0, "C422"),
    (vs.YUV, 10, 1, 0, "C422p10"),
    (vs.YUV, 16, 1, 0, "C422p16"),
    (vs.YUV, 8, 0, 0, "C444"),
    (vs.YUV, 12, 0, 0, "C444p12"),
    (vs.YUV, 8, 2, 2, "C410"),
    (vs.YUV, 8, 2, 0, "C411"),
    (vs.YUV, 8, 0, 1, "C440"),
]


@pytest.mark.parametrize(("family", "bits", "ssw", "ssh", "tag"), Y4M_TAGS)
def test_y4m_colorspace_tags(
    env: ManagedEnvironment, family: Any, bits: int, ssw: int, ssh: int, tag: str
) -> None:
    def build() -> vs.VideoNode:
        fmt = core().query_video_format(family, vs.INTEGER, bits, ssw, ssh)
        blank = core().std.BlankClip(width=16, height=8, format=fmt, length=2, fpsnum=30000, fpsden=1001)
        return cast("vs.VideoNode", blank)

    clip = make(env, build)
    header, *rest = render(clip, env, y4m=True)
    assert header == (0, f"YUV4MPEG2 {tag} W16 H8 F30000:1001 Ip A0:0 XLENGTH=2\n".encode())
    sample = 1 if bits == 8 else 2
    chroma = 0 if family == vs.GRAY else 2 * (16 >> ssw) * (8 >> ssh)
    assert [len(data) for _, data in rest] == [6 + (16 * 8 + chroma) * sample] * 2


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: core().std.BlankClip(format=vs.YUV444PS, length=1), r"YUV444PS, a floating-point format"),
        (lambda: core().std.BlankClip(format=vs.GRAYH, length=1), r"GrayH, a floating-point format"),
        (lambda: core().std.BlankClip(format=vs.RGB24, length=1), r"RGB24, an RGB format"),
        (lambda: core().std.BlankClip(format=vs.RGB48, length=1), r"RGB48, an RGB format"),
        (
            lambda: core().std.Splice(
                [
                    core().std.BlankClip(format=vs.YUV420P8, length=1),
                    core().std.BlankClip(format=vs.GRAY8, length=1),
                ],
                mismatch=True,
            ),
            r"variable format",
        ),
        (
            lambda: core().std.Splice(
                [
                    core().std.BlankClip(width=8, height=8, length=1),
                    core().std.BlankClip(width=4, height=4, length=1),
                ],
                mismatch=True,
            ),
            r"variable (format|frame size)",
        ),
    ],
)
def test_y4m_refuses_what_it_cannot_carry(env: ManagedEnvironment, build: Any, message: str) -> None:
    clip = make(env, build)
    with pytest.raises(ValueError, match=rf"cannot write Y4M: .*{message}"):
        render(clip, env, y4m=True)
    # Raw output works for every format.
    assert len(list(render(clip, env))) == clip.num_frames


def test_render_stops_at_the_first_error(env: ManagedEnvironment) -> None:
    clip = make(env, lambda: failing_at(numbered_clip(8), 5))
    seen: list[int] = []

    def consume() -> None:
        for n, _ in render(clip, env, prefetch=3):
            seen.append(n)

    with pytest.raises(vs.Error, match="frame 5 is broken"):
        consume()
    assert seen == [1, 2, 3, 4, 5]


# -- no busy waiting ---------------------------------------------------------------------------------


def test_waiting_for_a_slow_frame_does_not_spin(env: ManagedEnvironment) -> None:
    """A consumer blocked on a slow frame sleeps: it waits without a timeout (only the frame's arrival
    can wake it) and runs no Python code until the frame arrives."""
    reached, gate = threading.Event(), threading.Event()
    clip = make(env, lambda: gated(numbered_clip(8), 5, reached, gate))
    received: list[int] = []
    events_while_blocked: list[int] = []  # traced events from its blocking on frame 5 to the gate's opening
    blocked = threading.Event()

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if blocked.is_set():
            if not gate.is_set():
                events_while_blocked[0] += 1
        elif (
            event == "call"
            and len(received) == 5  # frames 1..5 of render() (0..4 of the clip) arrived; 6 is gated
            and frame.f_code.co_name == "wait"
            and frame.f_code.co_filename == threading.__file__
            and frame.f_locals.get("timeout") is None
        ):
            events_while_blocked.append(0)
            blocked.set()
        return trace

    def consume() -> None:
        sys.settrace(trace)
        try:
            for n, _ in render(clip, env, prefetch=2, backlog=4):
                received.append(n)
        finally:
            sys.settrace(None)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        assert reached.wait(60), "frame 5 was never requested"
        # A consumer that polled (a loop with a timeout, a sleep, or a busy loop) never blocks.
        assert blocked.wait(60), f"the consumer never blocked waiting for frame 5 (it got {received})"
    finally:
        gate.set()
        consumer.join(60)
    assert not consumer.is_alive()
    assert received == list(range(1, 9))
    # Until the gate opened it ran only the lines of Condition.wait that lead to its lock (no loop).
    assert events_while_blocked[0] < 30, f"the consumer ran {events_while_blocked[0]} traced events"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_waiting_for_a_slow_frame_keeps_the_event_loop_free(env: ManagedEnvironment, adapter: str) -> None:
    """Only a task on the same event loop can release the slow frame: that works only if
    `async for` over render() waits by awaiting, never by blocking or spinning the loop."""
    reached, gate = threading.Event(), threading.Event()
    clip = make(env, lambda: gated(numbered_clip(12), 6, reached, gate))

    async def body() -> list[int]:
        async def opener() -> None:
            while not reached.is_set():
                await anyio.sleep(0.005)
            gate.set()

        received: list[int] = []
        # anyio task groups run on asyncio and trio alike.
        async with anyio.create_task_group() as group:
            group.start_soon(opener)
            async for n, data in render(clip, env, prefetch=2, backlog=4):
                assert data == bytes([n - 1]) * 8
                received.append(n)
        return received

    assert run_under(adapter, body) == list(range(1, 13))


# -- event loops -------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_async_iteration_under_each_adapter(env: ManagedEnvironment, adapter: str) -> None:
    clip = make(env, scrambled, 20)

    async def body() -> tuple[int, list[int], list[int]]:
        single = await frame(clip, 9, env)
        value = bytes(single[0])[0]
        single.close()
        numbers = [n async for n, _ in render(clip, env, prefetch=3)]
        values = []
        async for f in frames(clip, env, prefetch=4, close=True):
            values.append(bytes(f[0])[0])
        return value, numbers, values

    value, numbers, values = run_under(adapter, body)
    assert value == 9
    assert numbers == list(range(1, 21))
    assert values == list(range(20))


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_errors_arrive_in_async_iteration(env: ManagedEnvironment, adapter: str) -> None:
    clip = make(env, lambda: failing_at(numbered_clip(6), 2))

    seen: list[int] = []

    async def body() -> str:
        try:
            async for n, _ in render(clip, env, prefetch=2):
                seen.append(n)
        except vs.Error as exc:
            return str(exc)
        return "no error"

    assert "frame 2 is broken" in run_under(adapter, body)
    assert seen == [1, 2]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_cancelling_async_iteration_leaves_nothing_pending(env: ManagedEnvironment, adapter: str) -> None:
    reached, gate = threading.Event(), threading.Event()
    clip = make(env, lambda: gated(numbered_clip(10), 3, reached, gate))
    seen: list[int] = []

    async def body() -> list[int]:
        async def consume() -> None:
            async for f in frames(clip, env, prefetch=2, close=True):
                seen.append(bytes(f[0])[0])

        with anyio.move_on_after(30) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                # Frame 3 is stuck behind the gate: the consumer, past frames 0-2, waits for it.
                while not (reached.is_set() and len(seen) >= 3):
                    await anyio.sleep(0.005)
                group.cancel_scope.cancel()
        assert not scope.cancelled_caught, "cancelling the consumer hung"
        gate.set()
        # The same clip still renders from the start, in order.
        return [n async for n, _ in render(clip, env, prefetch=3)]

    assert run_under(adapter, body) == list(range(1, 11))
    assert seen == [0, 1, 2]
