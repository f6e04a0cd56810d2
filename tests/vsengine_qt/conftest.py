"""Fixtures for vsengine-qt: a real QApplication (offscreen), a registered vsengine policy, and a helper
that runs a coroutine on a real qtinter loop.

The binding is the one named by ``QTINTERBINDING`` (the nox matrix sets it), else the first installed of
PySide6, PyQt6 and PyQt5. It is imported before anything imports qtinter.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _binding() -> str:
    requested = os.environ.get("QTINTERBINDING", "").strip()
    if requested:  # qtinter accepts any letter case ("pyqt6"): so do we
        names = {name.lower(): name for name in ("PyQt5", "PyQt6", "PySide2", "PySide6")}
        return names.get(requested.lower(), requested)
    for name in ("PySide6", "PyQt6", "PyQt5"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise RuntimeError("no Qt binding is installed for the vsengine-qt tests")


BINDING = _binding()
importlib.import_module(f"{BINDING}.QtWidgets")

from vsengine.loops import NO_LOOP, set_loop  # noqa: E402
from vsengine.policy import ContextVarStore, Policy  # noqa: E402
from vsengine_qt._qt import QtWidgets  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def qapp() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["vsengine-qt-tests"])
    assert isinstance(app, QtWidgets.QApplication)
    # Tests close their windows; Qt must not quit the application for them. A quit that arrives
    # when no event loop runs (closing the last window after app.exec() returned) makes every
    # later QEventLoop.exec() return at once, until the next app.exec(): qtinter's owner mode
    # then refuses to run (tests/qtinter's conftest does the same).
    app.setQuitOnLastWindowClosed(False)
    return app


@pytest.fixture
def policy(qapp: QtWidgets.QApplication) -> Iterator[Policy]:
    with Policy(ContextVarStore()) as policy:
        yield policy
    set_loop(NO_LOOP)
