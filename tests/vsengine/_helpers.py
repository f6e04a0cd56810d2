"""Shared helpers of the video, vpy and CLI tests: test clips and running code under each adapter."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

import anyio
import trio
import vapoursynth as vs

from vsengine.adapters.anyio import AnyIOLoop
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.adapters.trio import TrioEventLoop
from vsengine.loops import NO_LOOP, set_loop

if TYPE_CHECKING:
    import threading
    from collections.abc import Awaitable, Callable

#: The event-loop flavours async tests run under.
ADAPTERS = ["asyncio", "trio", "anyio-asyncio", "anyio-trio"]


def core() -> Any:
    """The current core, typed loosely (VapourSynth's stubs do not list plugin namespaces)."""
    return vs.core.core


def numbered_clip(count: int, *, width: int = 4, height: int = 2) -> vs.VideoNode:
    """A GRAY8 clip whose frame ``n`` is filled with the value ``n % 256`` (current environment)."""
    c = core()
    parts = [
        c.std.BlankClip(width=width, height=height, format=vs.GRAY8, length=1, color=[n % 256])
        for n in range(count)
    ]
    return cast("vs.VideoNode", c.std.Splice(parts))


def with_delays(clip: vs.VideoNode, delay: Callable[[int], float]) -> vs.VideoNode:
    """`clip`, where producing frame ``n`` first sleeps ``delay(n)`` seconds (scrambles completion order)."""

    def slow(n: int) -> vs.VideoNode:
        time.sleep(delay(n))
        return clip

    return cast("vs.VideoNode", core().std.FrameEval(clip, slow))


def gated(clip: vs.VideoNode, frame: int, reached: threading.Event, gate: threading.Event) -> vs.VideoNode:
    """`clip`, where frame `frame` sets `reached` and then waits until `gate` is set.

    Only that frame goes through the waiting FrameEval: FrameEval evaluates one frame at a time, so
    any other frame of it would wait behind the gate too, also one that was requested earlier and
    comes before the gated one (a read-ahead can start evaluating frame `frame` while an earlier
    frame still waits for its turn).
    """

    def wait(n: int) -> vs.VideoNode:
        reached.set()
        if not gate.wait(20):
            raise RuntimeError("the gate was never opened")
        return clip

    slow = core().std.FrameEval(clip, wait)
    parts = [clip[:frame]] if frame else []
    parts.append(slow[frame])
    if frame + 1 < clip.num_frames:
        parts.append(clip[frame + 1 :])
    return cast("vs.VideoNode", core().std.Splice(parts))


def failing_at(clip: vs.VideoNode, frame: int) -> vs.VideoNode:
    """`clip`, where requesting frame `frame` fails with a VapourSynth error."""

    def fail(n: int) -> vs.VideoNode:
        if n == frame:
            raise ValueError(f"frame {n} is broken")
        return clip

    return cast("vs.VideoNode", core().std.FrameEval(clip, fail))


def run_under[T](adapter: str, body: Callable[[], Awaitable[T]]) -> T:
    """Runs ``await body()`` in a fresh event loop of `adapter` set as vsengine's loop."""
    if adapter == "asyncio":

        async def main_asyncio() -> T:
            set_loop(AsyncIOLoop())
            try:
                return await body()
            finally:
                set_loop(NO_LOOP)

        return asyncio.run(main_asyncio())

    if adapter == "trio":

        async def main_trio() -> T:
            async with trio.open_nursery() as nursery:
                set_loop(TrioEventLoop(nursery))
                try:
                    return await body()
                finally:
                    set_loop(NO_LOOP)

        return trio.run(main_trio)

    if adapter.startswith("anyio-"):

        async def main_anyio() -> T:
            async with AnyIOLoop() as loop:
                set_loop(loop)
                try:
                    return await body()
                finally:
                    set_loop(NO_LOOP)

        return anyio.run(main_anyio, backend=adapter.removeprefix("anyio-"))

    raise ValueError(adapter)
