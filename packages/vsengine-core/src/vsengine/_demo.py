"""The built-in clip `vsengine render` renders when no script is given.

A moving colour gradient with the frame number on top, made from VapourSynth's built-in plugins
only (std, resize, text), so it works on any installation without a file.
"""

from __future__ import annotations

from typing import Any, cast

import vapoursynth as vs

__all__ = ["demo_clip"]

#: Frames per scroll cycle of the gradients.
_PERIOD = 60


def _wave(core: Any, width: int, height: int, *, vertical: bool) -> vs.VideoNode:
    """One period of a smooth dark-bright-dark wave across `width` (or down `height`), GRAY8."""
    dots = [
        core.std.BlankClip(width=1, height=1, format=vs.GRAY8, length=1, color=[value])
        for value in (16, 72, 200, 235, 200, 72, 16)
    ]
    stacked = core.std.StackVertical(dots) if vertical else core.std.StackHorizontal(dots)
    wave: vs.VideoNode = core.resize.Spline36(stacked, width=width, height=height)
    return wave


def _scrolling(core: Any, width: int, height: int, *, vertical: bool, reverse: bool) -> vs.VideoNode:
    """A wave that scrolls one period every `_PERIOD` frames (`_PERIOD` frames long)."""
    wave = _wave(core, width, height, vertical=vertical)
    double = core.std.StackVertical([wave, wave]) if vertical else core.std.StackHorizontal([wave, wave])
    size = height if vertical else width
    steps = []
    for i in range(_PERIOD):
        offset = (i * size) // _PERIOD
        if reverse:
            offset = (size - offset) % size
        if vertical:
            steps.append(core.std.Crop(double, top=offset, bottom=size - offset))
        else:
            steps.append(core.std.Crop(double, left=offset, right=size - offset))
    cycle: vs.VideoNode = core.std.Splice(steps)
    return cycle


def demo_clip(length: int = 300, width: int = 640, height: int = 360, fps: int = 30) -> vs.VideoNode:
    """Builds the demo clip (YUV420P8) in the current environment."""
    if width % 2 or height % 2:
        raise ValueError(f"the demo clip needs an even width and height, got {width}x{height}")
    # VapourSynth's stubs do not list plugin namespaces.
    core: Any = vs.core.core
    across = _scrolling(core, width, height, vertical=False, reverse=False)
    down = _scrolling(core, width, height, vertical=True, reverse=False)
    luma = core.std.Merge(across, down, weight=[0.35])
    cb = _scrolling(core, width // 2, height // 2, vertical=True, reverse=True)
    cr = _scrolling(core, width // 2, height // 2, vertical=False, reverse=True)
    clip = core.std.ShufflePlanes([luma, cb, cr], planes=[0, 0, 0], colorfamily=vs.YUV)
    repeats = -(-length // _PERIOD)
    clip = (clip * repeats).std.Trim(0, length - 1)
    clip = core.std.AssumeFPS(clip, fpsnum=fps, fpsden=1)
    clip = core.text.Text(clip, "vsengine demo", alignment=7)
    return cast("vs.VideoNode", core.text.FrameNum(clip, alignment=9))
