"""Snapshots of the current frame: their file name, the PNG file and the clipboard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from vsengine_qt._png import write_png
from vsengine_qt._qt import QtGui

if TYPE_CHECKING:
    import os

__all__ = ["copy_snapshot", "save_snapshot", "snapshot_name"]


def snapshot_name(script: str | os.PathLike[str] | None, output: int, frame: int) -> str:
    """``<script stem>-out<output>-frame<frame>.png`` (``testclip-...`` for the built-in clip)."""
    stem = Path(script).stem if script is not None else "testclip"
    stem = re.sub(r"[^\w.-]+", "_", stem) or "script"
    return f"{stem}-out{output}-frame{frame:06d}.png"


def save_snapshot(image: QtGui.QImage, directory: str | os.PathLike[str], name: str) -> Path:
    """Write ``image`` as ``directory/name`` (a PNG at zlib level 6); returns the path."""
    path = Path(directory) / name
    write_png(image, path, level=6)
    return path


def copy_snapshot(image: QtGui.QImage) -> None:
    """Put ``image`` on the clipboard."""
    clipboard = QtGui.QGuiApplication.clipboard()
    if clipboard is None:
        raise RuntimeError("no clipboard: the QGuiApplication has none")
    # setImage, not a QMimeData of ours: PySide6 crashes at exit on a QMimeData made in Python
    # and handed to the clipboard.
    clipboard.setImage(image)
