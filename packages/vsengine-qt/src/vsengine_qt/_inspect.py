"""What the previewer tells about a frame and its clip: the pixel value under the cursor in the
source format, the frame's properties, and the clip's format, size, rate, length and colorimetry."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import vapoursynth as vs

from vsengine_qt._timeline import Timeline, format_time

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["clip_info", "format_props", "format_value", "pixel_value", "plane_names"]


def plane_names(fmt: vs.VideoFormat) -> tuple[str, ...]:
    if fmt.color_family == vs.RGB:
        return ("R", "G", "B")
    if fmt.color_family == vs.YUV:
        return ("Y", "U", "V")
    return ("Y",) if fmt.num_planes == 1 else tuple(f"P{i}" for i in range(fmt.num_planes))


def pixel_value(frame: vs.VideoFrame, x: int, y: int) -> tuple[tuple[str, int | float], ...]:
    """The samples of pixel ``(x, y)`` in the frame's own format, per plane: ``(("Y", 235), ...)``.
    Chroma of subsampled formats is the sample that covers the pixel."""
    if not (0 <= x < frame.width and 0 <= y < frame.height):
        raise IndexError(f"pixel ({x}, {y}) is outside the {frame.width}x{frame.height} frame")
    fmt = frame.format
    values: list[tuple[str, int | float]] = []
    for plane, name in enumerate(plane_names(fmt)):
        px, py = (x >> fmt.subsampling_w, y >> fmt.subsampling_h) if plane else (x, y)
        data = memoryview(frame[plane])
        values.append((name, data[py, px]))
    return tuple(values)


def format_value(values: tuple[tuple[str, int | float], ...]) -> str:
    """``Y 235  U 128  V 128`` (floats with 4 decimals)."""
    return "  ".join(
        f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}" for name, value in values
    )


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    if isinstance(value, vs.VideoFrame):
        return f"<frame {value.width}x{value.height} {value.format.name}>"
    if isinstance(value, vs.VideoNode | vs.AudioNode):
        return f"<{type(value).__name__}>"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _enum_name(enum: type[Any], value: object) -> str:
    try:
        return f"{value} ({enum(value).name})"
    except (ValueError, TypeError):
        return str(value)


_ENUM_PROPS: dict[str, type[Any]] = {
    "_Matrix": vs.MatrixCoefficients,
    "_Transfer": vs.TransferCharacteristics,
    "_Primaries": vs.ColorPrimaries,
    "_Range": vs.ColorRange,
    "_ChromaLocation": vs.ChromaLocation,
    "_FieldBased": vs.FieldBased,
}


def format_props(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every property as ``(name, text)``, sorted by name; colorimetry enums with their names."""
    rows = []
    for key in sorted(props.keys()):
        value = props[key]
        enum = _ENUM_PROPS.get(key)
        rows.append((key, _enum_name(enum, value) if enum is not None else _show(value)))
    return rows


def clip_info(
    node: vs.VideoNode, props: Mapping[str, Any] | None = None, timeline: Timeline | None = None
) -> list[tuple[str, str]]:
    """Format, size, frame rate, length (from ``timeline`` for a variable frame rate, once it knows
    every duration) and (from ``props``, a frame's properties) colorimetry."""
    fmt = node.format
    timeline = timeline if timeline is not None else Timeline.of(node)
    fps = Fraction(node.fps_num, node.fps_den) if node.fps_num and node.fps_den else None
    length = timeline.length()
    rows = [
        ("Format", fmt.name if fmt is not None else "variable"),
        ("Size", f"{node.width}x{node.height}" if node.width and node.height else "variable"),
        ("Frame rate", f"{fps} ({float(fps):.3f} fps)" if fps is not None else "variable"),
        ("Frames", str(node.num_frames)),
        ("Length", format_time(length) if length is not None else "variable frame rate"),
    ]
    for label, key, enum in (
        ("Matrix", "_Matrix", vs.MatrixCoefficients),
        ("Transfer", "_Transfer", vs.TransferCharacteristics),
        ("Primaries", "_Primaries", vs.ColorPrimaries),
        ("Range", "_Range", vs.ColorRange),
    ):
        value = props.get(key) if props is not None else None
        rows.append((label, _enum_name(enum, value) if value is not None else "unset"))
    return rows
