"""Smoke test of a vsengine-core wheel installed alone, without Qt (run by `nox -s install`).

Renders a BlankClip through vsengine.video under the asyncio adapter and checks the Y4M output.
"""

from __future__ import annotations

import asyncio
import importlib.util

import vapoursynth as vs

from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import NO_LOOP, set_loop
from vsengine.policy import ContextVarStore, Policy
from vsengine.video import frame, render


async def main() -> tuple[int, int]:
    set_loop(AsyncIOLoop())
    try:
        with Policy(ContextVarStore()) as policy, policy.new_environment() as env:
            with env.use():
                clip = vs.core.std.BlankClip(
                    width=64, height=32, format=vs.YUV420P8, length=12, color=[16, 128, 128]
                )
            first = await frame(clip, 0, env)
            assert (first.width, first.height) == (64, 32)
            first.close()
            numbers = []
            total = 0
            async for n, data in render(clip, env, prefetch=4, y4m=True):
                numbers.append(n)
                total += len(data)
            del clip
    finally:
        set_loop(NO_LOOP)
    assert numbers == list(range(13)), numbers  # the Y4M header is item 0, frames count from 1
    return len(numbers) - 1, total


def run() -> None:
    for name in ("PyQt5", "PyQt6", "PySide2", "PySide6", "qtinter", "vsengine_qt"):
        assert importlib.util.find_spec(name) is None, (
            f"{name} must not be installed with vsengine-core alone"
        )
    count, total = asyncio.run(main())
    assert count == 12
    print("vsengine-core smoke ok:", count, "frames,", total, "bytes of Y4M")


if __name__ == "__main__":
    run()
