"""The built-in test clip: colour bars over a strip whose grey level tells the frame number.

Everything in it is known, so tests (and a person looking at the previewer) can check what they see:
eight 75% colour bars, the frame number printed in the top-left corner, and a grey strip along the
bottom whose level is :func:`marker_level` of the frame number. It is made of VapourSynth's built-in
filters only and stored as YUV420P8 with BT.709 (it is HD), so showing it exercises the YUV path.
"""

from __future__ import annotations

from typing import Any

import vapoursynth as vs

__all__ = [
    "BARS",
    "HEIGHT",
    "MARKER_PERIOD",
    "STRIP_HEIGHT",
    "WIDTH",
    "builtin_clip",
    "marker_frame",
    "marker_level",
]

WIDTH = 1280
HEIGHT = 720
#: The grey strip along the bottom that identifies the frame.
STRIP_HEIGHT = 96
#: The eight bars, left to right, each WIDTH // 8 pixels wide, as 8-bit RGB.
BARS: tuple[tuple[int, int, int], ...] = (
    (191, 191, 191),
    (191, 191, 0),
    (0, 191, 191),
    (0, 191, 0),
    (191, 0, 191),
    (191, 0, 0),
    (0, 0, 191),
    (16, 16, 16),
)
#: The strip repeats its levels every MARKER_PERIOD frames.
MARKER_PERIOD = 32
_MARKER_STEP = 7


def marker_level(n: int) -> int:
    """The 8-bit grey level of the bottom strip in frame ``n``."""
    return 16 + (n % MARKER_PERIOD) * _MARKER_STEP


def marker_frame(level: int) -> int:
    """The frame number modulo MARKER_PERIOD that a measured strip level stands for."""
    return round((level - 16) / _MARKER_STEP) % MARKER_PERIOD


def builtin_clip(length: int = 240, fpsnum: int = 24000, fpsden: int = 1001) -> vs.VideoNode:
    """The built-in test clip (1280x720 YUV420P8, BT.709), made in the current environment."""
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    core: Any = vs.core
    bar_width = WIDTH // len(BARS)
    bars = core.std.StackHorizontal(
        [
            core.std.BlankClip(
                width=bar_width,
                height=HEIGHT - STRIP_HEIGHT,
                format=vs.RGB24,
                color=list(color),
                length=length,
                fpsnum=fpsnum,
                fpsden=fpsden,
            )
            for color in BARS
        ]
    )
    levels = [
        core.std.BlankClip(
            width=WIDTH,
            height=STRIP_HEIGHT,
            format=vs.RGB24,
            color=[marker_level(n)] * 3,
            length=1,
            fpsnum=fpsnum,
            fpsden=fpsden,
        )
        for n in range(MARKER_PERIOD)
    ]
    strip = core.std.Loop(core.std.Splice(levels), times=-(-length // MARKER_PERIOD))[:length]
    rgb = core.text.FrameNum(core.std.StackVertical([bars, strip]), alignment=7, scale=3)
    yuv = core.resize.Bicubic(rgb, format=vs.YUV420P8, matrix_s="709")
    # VapourSynth R81's range property is _Range, 0 (RANGE_LIMITED) for limited; the resize above sets
    # it already: said again here so the clip's colorimetry reads in one place.
    clip: vs.VideoNode = core.std.SetFrameProps(yuv, _Matrix=vs.MATRIX_BT709, _Range=vs.RANGE_LIMITED)
    return clip
