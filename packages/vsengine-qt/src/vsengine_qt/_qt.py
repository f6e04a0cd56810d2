"""The Qt binding, chosen the way qtinter chooses it, and the few places where bindings differ.

Everything else in the package imports Qt through this module, so that one process uses one binding:
the one qtinter picked (the binding already imported, else ``QTINTERBINDING``).
"""

from __future__ import annotations

import ctypes
import importlib
from typing import TYPE_CHECKING, Any

from qtinter import bindings as _bindings

#: The binding's import name: ``"PyQt5"``, ``"PyQt6"``, ``"PySide2"`` or ``"PySide6"``.
__all__ = [
    "BINDING",
    "IS_PYQT",
    "QT5",
    "QtCore",
    "QtGui",
    "QtWidgets",
    "Signal",
    "Slot",
    "exec_",
    "image_over_memory",
    "mouse_position",
]

BINDING: str = _bindings.__binding__
IS_PYQT = BINDING.startswith("PyQt")
#: The binding wraps Qt 5 (PyQt5, PySide2), whose API differs from Qt 6's in the places below.
QT5 = BINDING in ("PyQt5", "PySide2")

# Type checking runs once per binding: PyQt6 by default, PySide6 with ``--always-true TYPECHECK_PYSIDE6``.
TYPECHECK_PYSIDE6 = False

if TYPE_CHECKING:
    if TYPECHECK_PYSIDE6:
        from PySide6 import QtCore, QtGui, QtWidgets
        from PySide6.QtCore import Signal, Slot
    else:
        from PyQt6 import QtCore, QtGui, QtWidgets
        from PyQt6.QtCore import pyqtSignal as Signal
        from PyQt6.QtCore import pyqtSlot as Slot
else:
    QtCore = _bindings.QtCore
    QtGui = importlib.import_module(f"{BINDING}.QtGui")
    QtWidgets = importlib.import_module(f"{BINDING}.QtWidgets")
    if IS_PYQT:
        Signal = QtCore.pyqtSignal
        Slot = QtCore.pyqtSlot
    else:
        Signal = QtCore.Signal
        Slot = QtCore.Slot

if IS_PYQT:
    _sip: Any = importlib.import_module(BINDING + ".sip")


def image_over_memory(
    address: int, width: int, height: int, stride: int, fmt: QtGui.QImage.Format
) -> QtGui.QImage:
    """A QImage that views ``stride * height`` bytes at ``address`` without copying them.

    The caller keeps the memory alive for as long as the image is used, and usually detaches
    it at once with ``QImage.copy()``.
    """
    if IS_PYQT:
        viewed: QtGui.QImage = QtGui.QImage(_sip.voidptr(address), width, height, stride, fmt)
        return viewed
    # PySide accepts any C-contiguous buffer: view the plane through ctypes, still without a copy.
    buffer = (ctypes.c_ubyte * (stride * height)).from_address(address)
    image: QtGui.QImage = QtGui.QImage(memoryview(buffer), width, height, stride, fmt)  # type: ignore[call-overload,unused-ignore]
    return image


def exec_(obj: Any) -> int:
    """``obj.exec()`` on every binding (PyQt5 and PySide2 spell it ``exec_`` too)."""
    method = getattr(obj, "exec", None) or obj.exec_
    return int(method())


def mouse_position(event: QtGui.QMouseEvent) -> QtCore.QPointF:
    """Where a mouse event happened, in the receiving widget's coordinates (Qt 5 names it ``localPos()``)."""
    if QT5:
        local: QtCore.QPointF = event.localPos()  # type: ignore[attr-defined,unused-ignore]
        return local
    return event.position()
