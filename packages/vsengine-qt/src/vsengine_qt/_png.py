"""PNG files of QImages, fast and from any thread.

``QImage.save`` runs libpng with its adaptive row filters and zlib's default level: about 35 ms of
CPU for a 1280x720 frame, four times what the rest of the headless path costs per frame. Here the
image is painted as 8-bit RGB by Qt into PNG's scanlines with the "none" filter and zlib compresses
them at a fast level (1 by default): about 6 ms for the same frame, and zlib releases the GIL while it works,
so several frames are encoded in parallel threads. Files are larger than libpng's at its defaults.
"""

from __future__ import annotations

import ctypes
import struct
import zlib
from typing import TYPE_CHECKING

from vsengine._clitools import atomic_file
from vsengine_qt._qt import QtGui, image_over_memory

if TYPE_CHECKING:
    import os
    from pathlib import Path

__all__ = ["encode_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Looked up once, here: PySide6 resolves enums lazily, which is not safe from several threads at once.
_RGB888 = QtGui.QImage.Format.Format_RGB888
_SOURCE = QtGui.QPainter.CompositionMode.CompositionMode_Source


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def encode_png(image: QtGui.QImage, level: int = 1) -> bytes:
    """``image`` as the bytes of a PNG file (8-bit RGB) compressed at zlib ``level`` (0-9).
    Safe to call from any thread."""
    if image.isNull():
        raise ValueError("cannot encode an empty (null) QImage as PNG")
    width, height = image.width(), image.height()
    row = width * 3
    # PNG's scanlines are each a filter-type byte (0: none) followed by the pixels. Qt paints the
    # converted pixels straight into them: an RGB888 image over the buffer, one byte in, whose
    # stride skips each next row's filter byte (left 0). No Python loop over rows, one pass.
    raw = bytearray((row + 1) * height + 4)  # 4 spare bytes: Qt may touch a word past the last pixel
    address = ctypes.addressof((ctypes.c_char * len(raw)).from_buffer(raw))
    target = image_over_memory(address + 1, width, height, row + 1, _RGB888)
    painter = QtGui.QPainter(target)
    try:
        painter.setCompositionMode(_SOURCE)
        painter.drawImage(0, 0, image)
    finally:
        painter.end()
    del target
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(memoryview(raw)[: (row + 1) * height], level)),
            _chunk(b"IEND", b""),
        )
    )


def write_png(image: QtGui.QImage, path: str | os.PathLike[str] | Path, level: int = 1) -> None:
    """Write ``image`` to ``path`` as PNG (see :func:`encode_png`). The file appears under its name
    only once complete; an error leaves no partial file."""
    data = encode_png(image, level)
    with atomic_file(path) as f:
        f.write(data)
