"""vsengine-qt: VapourSynth frames on the Qt main thread, and a previewer.

- :class:`QtEventLoop` and :func:`setup`: vsengine's event loop on the asyncio loop qtinter runs in Qt.
- :func:`frames`, :class:`FrameStream`: a node's frames requested ahead and delivered in order.
- :func:`qimage_node`, :func:`frame_to_qimage`: frames as QImages.
"""

from vsengine_qt._frames import Delivered, FrameIterator, FramePump, FrameStream, default_prefetch, frames
from vsengine_qt._image import default_matrix, frame_to_qimage, qimage_node
from vsengine_qt._loop import QtEventLoop
from vsengine_qt._testclip import test_clip

__version__ = "0.1.0"

__all__ = [
    "Delivered",
    "FrameIterator",
    "FramePump",
    "FrameStream",
    "QtEventLoop",
    "__version__",
    "default_matrix",
    "default_prefetch",
    "frame_to_qimage",
    "frames",
    "qimage_node",
    "test_clip",
]
