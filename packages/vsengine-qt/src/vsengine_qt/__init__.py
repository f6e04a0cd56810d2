"""vsengine-qt: VapourSynth frames on the Qt main thread, and a previewer.

- :func:`setup`, :class:`QtEventLoop`: vsengine's event loop on the asyncio loop qtinter runs in Qt.
- :func:`frames`, :class:`FrameStream`: a node's frames rendered ahead and delivered in order, as
  fast as they come or paced at the clip's rate (:class:`QtClock`, :class:`ManualClock`).
- :func:`qimage_node`, :func:`frame_to_qimage`: frames as QImages.
- :class:`PreviewWindow`: the previewer (``vsengine-qt preview``).

The Qt binding is the one qtinter uses (the binding already imported, else ``QTINTERBINDING``).
The names are imported on first use, so that ``python -m vsengine_qt`` can pick a binding first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vsengine_qt._frames import Delivered, FrameIterator, FramePump, FrameStream, default_prefetch, frames
    from vsengine_qt._image import default_matrix, frame_to_qimage, qimage_node
    from vsengine_qt._loop import QtEventLoop
    from vsengine_qt._pacing import Clock, ManualClock, QtClock
    from vsengine_qt._session import Session, setup
    from vsengine_qt._source import Source, load_source
    from vsengine_qt._testclip import builtin_clip
    from vsengine_qt._viewer import FrameView, PreviewWindow

__version__ = "0.1.0"

_WHERE = {
    "Delivered": "_frames",
    "FrameIterator": "_frames",
    "FramePump": "_frames",
    "FrameStream": "_frames",
    "default_prefetch": "_frames",
    "frames": "_frames",
    "default_matrix": "_image",
    "frame_to_qimage": "_image",
    "qimage_node": "_image",
    "QtEventLoop": "_loop",
    "Clock": "_pacing",
    "ManualClock": "_pacing",
    "QtClock": "_pacing",
    "Session": "_session",
    "setup": "_session",
    "Source": "_source",
    "load_source": "_source",
    "builtin_clip": "_testclip",
    "FrameView": "_viewer",
    "PreviewWindow": "_viewer",
}

__all__ = [
    "Clock",
    "Delivered",
    "FrameIterator",
    "FramePump",
    "FrameStream",
    "FrameView",
    "ManualClock",
    "PreviewWindow",
    "QtClock",
    "QtEventLoop",
    "Session",
    "Source",
    "__version__",
    "builtin_clip",
    "default_matrix",
    "default_prefetch",
    "frame_to_qimage",
    "frames",
    "load_source",
    "qimage_node",
    "setup",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vsengine_qt' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vsengine_qt.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
