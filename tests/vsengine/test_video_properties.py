"""Property-based tests of ``vsengine.video.frames`` and ``render``: frame n comes out as the n-th
item (render numbers it n + 1, after the Y4M header numbered 0), for any prefetch and backlog,
whether the caller takes every frame or stops early.

Every frame of the clip carries its own number as its pixel value (a splice of one-frame GRAY8
clips), so an item that comes out in the wrong place cannot go unnoticed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
import vapoursynth as vs
from hypothesis import given, settings
from hypothesis import strategies as st

from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import NO_LOOP, set_loop
from vsengine.policy import GlobalStore, ManagedEnvironment, Policy
from vsengine.video import frames, render

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_FRAMES = 40
SETTINGS = settings(max_examples=60, deadline=None)

prefetches = st.integers(0, 12)
backlogs = st.none() | st.integers(-1, 30)


@pytest.fixture(scope="module")
def numbered() -> Iterator[tuple[ManagedEnvironment, vs.VideoNode]]:
    """An environment and a GRAY8 clip whose frame n is filled with the value n."""
    with Policy(GlobalStore()) as policy, policy.new_environment() as env:
        with env.use():
            clip = vs.core.std.Splice(
                [
                    vs.core.std.BlankClip(format=vs.GRAY8, width=4, height=2, color=n, length=1)
                    for n in range(MAX_FRAMES)
                ]
            )
        yield env, clip
        del clip


def first(env: ManagedEnvironment, clip: vs.VideoNode, length: int) -> vs.VideoNode:
    with env.use():  # slicing makes a filter of the environment's core
        return clip[:length]


def value_of(frame: vs.VideoFrame) -> int:
    return int(frame[0][0, 0])


@SETTINGS
@given(length=st.integers(1, MAX_FRAMES), prefetch=prefetches, backlog=backlogs, close=st.booleans())
def test_frames_in_order_for_any_prefetch_and_backlog(
    numbered: tuple[ManagedEnvironment, vs.VideoNode],
    length: int,
    prefetch: int,
    backlog: int | None,
    close: bool,
) -> None:
    env, clip = numbered
    seen = []
    for f in frames(first(env, clip, length), env, prefetch=prefetch, backlog=backlog, close=close):
        seen.append(value_of(f))
        f.close()
    assert seen == list(range(length))


@SETTINGS
@given(
    length=st.integers(1, MAX_FRAMES),
    stop=st.integers(0, MAX_FRAMES),
    prefetch=prefetches,
    backlog=backlogs,
)
def test_frames_stopped_early_gives_a_prefix(
    numbered: tuple[ManagedEnvironment, vs.VideoNode],
    length: int,
    stop: int,
    prefetch: int,
    backlog: int | None,
) -> None:
    env, clip = numbered
    seen = []
    iterator = frames(first(env, clip, length), env, prefetch=prefetch, backlog=backlog, close=True)
    for f in iterator:
        if len(seen) == stop:
            break
        seen.append(value_of(f))
    del iterator  # the read-ahead stops and closes what it fetched when the iterator is dropped
    assert seen == list(range(min(stop, length)))


@SETTINGS
@given(length=st.integers(1, MAX_FRAMES), prefetch=prefetches, backlog=backlogs, y4m=st.booleans())
def test_render_numbers_match_the_frames(
    numbered: tuple[ManagedEnvironment, vs.VideoNode],
    length: int,
    prefetch: int,
    backlog: int | None,
    y4m: bool,
) -> None:
    env, clip = numbered
    kwargs = {} if backlog is None else {"backlog": backlog}
    chunks = list(render(first(env, clip, length), env, prefetch=prefetch, y4m=y4m, **kwargs))
    if y4m:
        assert chunks[0][0] == 0
        chunks = chunks[1:]
    assert [n for n, _ in chunks] == list(range(1, length + 1))
    skip = 6 if y4m else 0  # b"FRAME\n"
    assert [data[skip] for _, data in chunks] == list(range(length))  # frame n's pixels hold n


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, MAX_FRAMES), prefetch=prefetches, backlog=backlogs)
def test_async_render_numbers_match_the_frames(
    numbered: tuple[ManagedEnvironment, vs.VideoNode], length: int, prefetch: int, backlog: int | None
) -> None:
    env, clip = numbered
    kwargs = {} if backlog is None else {"backlog": backlog}

    async def main() -> list[tuple[int, int]]:
        set_loop(AsyncIOLoop())
        try:
            return [
                (n, data[0])
                async for n, data in render(first(env, clip, length), env, prefetch=prefetch, **kwargs)
            ]
        finally:
            set_loop(NO_LOOP)

    assert asyncio.run(main()) == [(n + 1, n) for n in range(length)]
