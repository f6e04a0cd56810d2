"""VapourSynth frames as QImages.

Qt has no planar image format, and VapourSynth has no packed one. The conversion therefore happens in
two steps:

1. :func:`qimage_node` turns a video node into one whose frames are already laid out the way a QImage
   stores them: GRAY8 and GRAY16 keep their format, everything else becomes 8-bit RGB (YUV through a
   resize whose matrix and range come from the frame properties) packed into 32-bit pixels by
   VapourSynth itself, on its own threads (an Expr, transposes and a weave: no per-pixel Python, no
   GIL). Limited-range frames come out full range.
2. :func:`frame_to_qimage` wraps the frame's plane memory in a QImage with the frame's stride and
   detaches it with a single copy, so the image outlives the frame.

RGB24 frames that did not go through :func:`qimage_node` are packed in Python (no numpy), which costs
a few milliseconds per 1080p frame on the calling thread; prefer :func:`qimage_node` for video.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import vapoursynth as vs

from vsengine_qt._qt import QtGui, image_over_memory

__all__ = ["PACKED_PROP", "default_matrix", "frame_to_qimage", "qimage_node"]

#: Frame property that marks frames packed by :func:`qimage_node` (value 1: 32-bit RGB in a GRAY16 frame
#: twice as wide as the picture).
PACKED_PROP = "VSQtPackedRGB32"

_Format = QtGui.QImage.Format

#: Byte order of ``QImage.Format_RGB32`` in memory: one 32-bit ``0xffRRGGBB`` word in native endianness.
_RGB32_ORDER = "BGRX" if sys.byteorder == "little" else "XRGB"


def default_matrix(width: int, height: int) -> vs.MatrixCoefficients:
    """The YUV matrix assumed when a frame does not say: BT.709 for HD and larger, BT.601 (170M) for SD."""
    if width > 1024 or height > 576:
        return vs.MATRIX_BT709
    return vs.MATRIX_ST170_M


#: Grey and RGB frames become full range: a frame whose ``_Range`` says limited (0) is expanded (16-235
#: to 0-255 in 8 bits), one without the property is taken as full (shown as it is). Frames that need
#: no change pass through the resize untouched (the same memory, no copy).
_TO_FULL_RANGE = {"range_in_s": "full", "range_s": "full"}


def _check_video(node: object) -> vs.VideoNode:
    if isinstance(node, vs.AudioNode):
        raise TypeError(
            "an audio node cannot be converted to images: pass a video node (vs.VideoNode), "
            "e.g. the clip you set with set_output(), not its audio"
        )
    if not isinstance(node, vs.VideoNode):
        raise TypeError(f"expected a vapoursynth.VideoNode, got {type(node).__name__}")
    return node


def _weave(top: vs.VideoNode, bottom: vs.VideoNode) -> vs.VideoNode:
    """Interleave the rows of two clips: top row 0, bottom row 0, top row 1, ..."""
    core: Any = vs.core
    woven: vs.VideoNode = core.std.SelectEvery(
        core.std.DoubleWeave(core.std.Interleave([top, bottom]), tff=True), 2, 0
    )
    return woven


def _pack_rgb32(rgb: vs.VideoNode) -> vs.VideoNode:
    """Pack an RGB24 clip into a GRAY16 clip 2x as wide whose rows are QImage.Format_RGB32 scanlines.

    Two 16-bit words make a pixel: (G, B) and (0xFF, R) on little-endian machines, whose RGB32 pixels
    are the bytes B, G, R, 0xFF. Expr builds the words, then columns are interleaved by transposing,
    weaving rows and transposing back. (About 30% faster than weaving four 8-bit planes.)
    """
    core: Any = vs.core
    r, g, b = (core.std.ShufflePlanes(rgb, i, vs.GRAY) for i in range(3))
    gb = core.std.Expr([b, g], "y 256 * x +", format=vs.GRAY16)
    xr = core.std.Expr([r], "x 65280 +", format=vs.GRAY16)
    first, second = (gb, xr) if sys.byteorder == "little" else (xr, gb)
    packed = core.std.Transpose(_weave(core.std.Transpose(first), core.std.Transpose(second)))
    marked: vs.VideoNode = core.std.SetFrameProps(packed, **{PACKED_PROP: 1})
    return marked


def _variable_to_rgb24(node: vs.VideoNode, matrix: int | None) -> vs.VideoNode:
    """RGB24 frames for a clip whose format or size changes from frame to frame."""
    core: Any = vs.core
    conversions: dict[tuple[int, int, int], vs.VideoNode] = {}

    def to_rgb24(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        key = (f.format.id, f.width, f.height)
        converted = conversions.get(key)
        if converted is None:
            if f.format.color_family == vs.YUV:
                m = matrix if matrix is not None else default_matrix(f.width, f.height)
                converted = core.resize.Bicubic(node, format=vs.RGB24, matrix_in=m)
            else:  # grey and RGB: as for clips of a fixed format (see _TO_FULL_RANGE)
                converted = core.resize.Point(node, format=vs.RGB24, **_TO_FULL_RANGE)
            conversions[key] = converted
        return converted

    rgb: vs.VideoNode = core.std.FrameEval(node, to_rgb24, prop_src=node)
    return rgb


def qimage_node(node: vs.VideoNode, *, matrix: int | None = None) -> vs.VideoNode:
    """A node whose frames :func:`frame_to_qimage` converts with a single copy.

    - GRAY8 and GRAY16 keep their format; other grey formats become GRAY16.
    - RGB24 is packed into 32-bit pixels; high-bit-depth and float RGB go through 8-bit first.
    - Grey and RGB frames whose ``_Range`` property says limited (``vs.RANGE_LIMITED``, 0) are
      expanded to full range; frames without it are shown as they are (taken as full range).
    - YUV becomes RGB through a bicubic resize. The matrix comes from each frame's ``_Matrix``
      property; where that is missing or unspecified, ``matrix`` is used, and without it
      :func:`default_matrix` of the clip's size (BT.709 for HD, BT.601 for SD). The range comes
      from each frame's ``_Range`` (limited where it is missing, VapourSynth's default for YUV).
    - A clip of variable format or size becomes RGB24, frame by frame (the matrix chosen per frame
      as above); its frames stay planar and :func:`frame_to_qimage` packs them in Python.

    Call it where the node's environment is current (in a script, or inside ``env.use()``): the
    conversion filters come from that environment's core. Raises ``TypeError`` for an audio node.
    """
    node = _check_video(node)
    fmt: vs.VideoFormat | None = node.format  # None for a variable-format clip
    core: Any = vs.core
    if fmt is None or fmt.color_family == vs.UNDEFINED:
        return _variable_to_rgb24(node, matrix)
    if fmt.color_family == vs.GRAY:
        keep = fmt.sample_type == vs.INTEGER and fmt.bits_per_sample in (8, 16)
        gray: vs.VideoNode = core.resize.Point(node, format=fmt.id if keep else vs.GRAY16, **_TO_FULL_RANGE)
        return gray
    if fmt.color_family == vs.RGB:
        return _pack_rgb32(core.resize.Point(node, format=vs.RGB24, **_TO_FULL_RANGE))
    if fmt.color_family == vs.YUV:
        if matrix is None:
            matrix = default_matrix(node.width, node.height) if node.width else vs.MATRIX_BT709
        # Frame properties win over matrix_in; matrix_in only fills in where _Matrix is missing or 2.
        return _pack_rgb32(core.resize.Bicubic(node, format=vs.RGB24, matrix_in=matrix))
    raise ValueError(f"cannot convert {fmt.name} frames to images: unknown colour family")


def _pack_rgb24_in_python(frame: vs.VideoFrame) -> QtGui.QImage:
    width, height = frame.width, frame.height
    row_bytes = width * 4
    out = bytearray(b"\xff") * (row_bytes * height)
    planes = {"R": 0, "G": 1, "B": 2}
    for position, channel in enumerate(_RGB32_ORDER):
        if channel == "X":
            continue
        plane = planes[channel]
        stride = frame.get_stride(plane)
        address = frame.get_read_ptr(plane).value
        assert address is not None
        # A flat view of the plane including the padding at the end of each row (no copy).
        flat = memoryview((ctypes.c_ubyte * (stride * height)).from_address(address)).cast("B")
        if stride == width:
            out[position::4] = flat
        else:
            for y in range(height):
                start = y * row_bytes + position
                out[start : start + row_bytes : 4] = flat[y * stride : y * stride + width]
    # The QImage views the bytearray; copy() gives it memory of its own.
    address = ctypes.addressof((ctypes.c_char * len(out)).from_buffer(out))
    return image_over_memory(address, width, height, row_bytes, _Format.Format_RGB32).copy()


def frame_to_qimage(frame: vs.VideoFrame) -> QtGui.QImage:
    """Convert a frame to a QImage that owns its pixels (the frame can be released at once).

    Accepts frames of a :func:`qimage_node` (one copy), GRAY8 (``Format_Grayscale8``), GRAY16
    (``Format_Grayscale16``) and RGB24 (packed in Python: slower, prefer :func:`qimage_node`).
    Other formats raise ``ValueError`` naming the format: convert their node with :func:`qimage_node`.
    """
    given: object = frame
    if isinstance(given, vs.AudioFrame):
        raise TypeError("an audio frame cannot be converted to an image")
    if not isinstance(given, vs.VideoFrame):
        raise TypeError(f"expected a vapoursynth.VideoFrame, got {type(given).__name__}")
    fmt = frame.format
    address = frame.get_read_ptr(0).value
    assert address is not None
    stride = frame.get_stride(0)
    if frame.props.get(PACKED_PROP) == 1:
        image = image_over_memory(address, frame.width // 2, frame.height, stride, _Format.Format_RGB32)
    elif fmt.color_family == vs.GRAY and fmt.sample_type == vs.INTEGER and fmt.bits_per_sample == 8:
        image = image_over_memory(address, frame.width, frame.height, stride, _Format.Format_Grayscale8)
    elif fmt.color_family == vs.GRAY and fmt.sample_type == vs.INTEGER and fmt.bits_per_sample == 16:
        image = image_over_memory(address, frame.width, frame.height, stride, _Format.Format_Grayscale16)
    elif fmt.id == vs.RGB24:
        return _pack_rgb24_in_python(frame)
    else:
        raise ValueError(
            f"frame_to_qimage() cannot convert {fmt.name} frames directly; "
            "convert the node with vsengine_qt.qimage_node(node) first"
        )
    # The image views the frame's memory: one copy detaches it before the frame goes away.
    return image.copy()
