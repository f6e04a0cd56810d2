"""YUV4MPEG2 stream headers for VapourSynth clips, byte for byte as ``vspipe -c y4m`` writes them.

``YUV4MPEG2 C<colorspace> W<width> H<height> F<num>:<den> Ip A0:0 XLENGTH=<frames>``: the colour tag
first; ``mono`` or one of ``420 422 444 410 411 440`` for the chroma subsampling, followed by the bit
depth above 8 bits (``Cmono10``, ``C420p10``; vsjetengine 2.0 writes ``Cmonop10`` for 10-bit grey,
which FFmpeg does not read as 10-bit).
"""

from __future__ import annotations

import vapoursynth as vs

__all__ = ["FRAME_HEADER", "y4m_colorspace", "y4m_header"]

#: Precedes the planes of every frame of a Y4M stream.
FRAME_HEADER = b"FRAME\n"

#: (subsampling_w, subsampling_h) -> Y4M chroma tag
_CHROMA = {(1, 1): "420", (1, 0): "422", (0, 0): "444", (2, 2): "410", (2, 0): "411", (0, 1): "440"}


def y4m_colorspace(node: vs.VideoNode) -> str:
    """Returns the colorspace tag of the header (``C420p10``, ``Cmono16``) or raises ValueError.

    Y4M carries planar integer YUV and GRAY (8 to 32 bits) with a constant format and size.
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
    return f"C{chroma}" if bits == 8 else f"C{chroma}p{bits}"


def y4m_header(node: vs.VideoNode) -> bytes:
    """Returns the YUV4MPEG2 stream header of `node`, newline included, or raises ValueError."""
    colorspace = y4m_colorspace(node)
    return (
        f"YUV4MPEG2 {colorspace} W{node.width} H{node.height} F{node.fps_num}:{node.fps_den} Ip A0:0 "
        f"XLENGTH={node.num_frames}\n"
    ).encode("ascii")
