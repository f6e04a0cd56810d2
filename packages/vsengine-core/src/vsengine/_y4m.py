"""YUV4MPEG2 stream headers for VapourSynth clips."""

from __future__ import annotations

import vapoursynth as vs

__all__ = ["FRAME_HEADER", "y4m_colorspace", "y4m_header"]

#: Precedes the planes of every frame of a Y4M stream.
FRAME_HEADER = b"FRAME\n"

#: (subsampling_w, subsampling_h) -> Y4M chroma tag
_CHROMA = {(1, 1): "420", (1, 0): "422", (0, 0): "444", (2, 2): "410", (2, 0): "411", (0, 1): "440"}


def y4m_colorspace(node: vs.VideoNode) -> str:
    """Returns the colorspace part of the header (``C420p10 XYSCSS=420P10``) or raises ValueError.

    Y4M carries planar integer YUV and GRAY with a constant format and size, 8 to 16 bits.
    """
    fmt = node.format
    if fmt is None or fmt.color_family == vs.UNDEFINED or fmt.id == 0:
        raise ValueError(
            "cannot write Y4M: the clip has a variable format (it changes from frame to frame); "
            "convert it to one format first, e.g. clip.resize.Bicubic(format=vs.YUV420P8)"
        )
    if node.width == 0 or node.height == 0:
        raise ValueError("cannot write Y4M: the clip has a variable frame size; resize it to one size first")
    if fmt.sample_type == vs.FLOAT:
        raise ValueError(
            f"cannot write Y4M: the clip is {fmt.name}, a floating-point format; Y4M carries integer "
            f"samples only, convert it first, e.g. clip.resize.Point(format=vs.YUV444P16)"
        )
    if fmt.color_family == vs.RGB:
        raise ValueError(
            f"cannot write Y4M: the clip is {fmt.name}, an RGB format; Y4M carries YUV and GRAY only, "
            "convert it first, e.g. clip.resize.Bicubic(format=vs.YUV444P8, matrix_s='709')"
        )
    bits = fmt.bits_per_sample
    if fmt.color_family == vs.GRAY:
        return "Cmono" if bits == 8 else f"Cmono{bits}"
    chroma = _CHROMA.get((fmt.subsampling_w, fmt.subsampling_h))
    if chroma is None:
        raise ValueError(
            f"cannot write Y4M: Y4M has no tag for the chroma subsampling of {fmt.name} "
            f"({fmt.subsampling_w}, {fmt.subsampling_h})"
        )
    if bits == 8:
        return f"C{chroma}"
    # Like vspipe and FFmpeg: the high-bit-depth tag plus the XYSCSS extension older readers know.
    return f"C{chroma}p{bits} XYSCSS={chroma}P{bits}"


def y4m_header(node: vs.VideoNode) -> bytes:
    """Returns the YUV4MPEG2 stream header of `node`, newline included, or raises ValueError."""
    colorspace = y4m_colorspace(node)
    return (
        f"YUV4MPEG2 W{node.width} H{node.height} F{node.fps_num}:{node.fps_den} Ip A0:0 "
        f"{colorspace} XLENGTH={node.num_frames}\n"
    ).encode("ascii")
