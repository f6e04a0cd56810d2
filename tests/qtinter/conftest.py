"""One Qt binding per test process, chosen by ``QTINTERBINDING`` (the nox matrix sets it).

Without it, the first installed of PyQt6, PySide6, PyQt5, PySide2 is used. The choice is exported
(``QTINTERBINDING``, and ``PYTEST_QT_API`` for pytest-qt) so that subprocesses use the same binding,
and one ``QApplication`` is created for the whole session, offscreen.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _choose_binding() -> str:
    chosen = os.environ.get("QTINTERBINDING", "").strip()
    if chosen:
        return chosen
    for name in ("PyQt6", "PySide6", "PyQt5", "PySide2"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise RuntimeError("tests/qtinter need a Qt binding: install PyQt6, PySide6, PyQt5 or PySide2")


BINDING = _choose_binding()
os.environ["QTINTERBINDING"] = BINDING
os.environ.setdefault("PYTEST_QT_API", BINDING.lower())
QtWidgets = importlib.import_module(f"{BINDING}.QtWidgets")

import qtinter  # noqa: E402  (after the binding: the binding already imported wins)

assert qtinter.bindings.__binding__ == BINDING

#: The session's application (tests that need none run in a subprocess).
APP = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
APP.setQuitOnLastWindowClosed(False)
