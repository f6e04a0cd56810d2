"""The Qt binding the examples use.

``QTINTERBINDING`` (PyQt5, PyQt6, PySide2 or PySide6) chooses it; otherwise the first installed of
PyQt6, PySide6, PyQt5 and PySide2. Importing it before ``qtinter`` lets qtinter pick the same one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

_BINDINGS = ("PyQt6", "PySide6", "PyQt5", "PySide2")


def _choose() -> str:
    requested = os.environ.get("QTINTERBINDING", "").strip().lower()
    for name in _BINDINGS:
        if name.lower() == requested or (not requested and importlib.util.find_spec(name) is not None):
            return name
    raise ImportError(f"install one of {', '.join(_BINDINGS)} (or fix QTINTERBINDING={requested!r})")


BINDING = _choose()
QtCore: Any = importlib.import_module(f"{BINDING}.QtCore")
QtGui: Any = importlib.import_module(f"{BINDING}.QtGui")
QtWidgets: Any = importlib.import_module(f"{BINDING}.QtWidgets")
#: ``pyqtSignal`` (PyQt) or ``Signal`` (PySide).
Signal: Any = getattr(QtCore, "pyqtSignal", None) or QtCore.Signal

if BINDING == "PySide2":  # PySide2 spells exec() exec_() (exec was a keyword in Python 2)
    for _cls in (QtCore.QCoreApplication, QtCore.QEventLoop, QtWidgets.QDialog):
        _cls.exec = _cls.exec_
