"""Fixtures for vsengine-qt: a real QApplication (offscreen), a registered vsengine policy, and a helper
that runs a coroutine on a real qtinter loop.

The binding is the one named by ``QTINTERBINDING`` (the nox matrix sets it), else the first installed of
PySide6, PyQt6 and PyQt5. It is imported before anything imports qtinter.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from typing import TYPE_CHECKING, Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _binding() -> str:
    requested = os.environ.get("QTINTERBINDING", "").strip()
    if requested:
        return requested
    for name in ("PySide6", "PyQt6", "PyQt5"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise RuntimeError("no Qt binding is installed for the vsengine-qt tests")


BINDING = _binding()
importlib.import_module(f"{BINDING}.QtWidgets")

import qtinter  # noqa: E402 (after the binding)
from vsengine.loops import NO_LOOP, set_loop  # noqa: E402
from vsengine.policy import ContextVarStore, Policy  # noqa: E402

from vsengine_qt._qt import QtWidgets  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

#: Seconds any single awaited step of a test may take before the test fails instead of hanging.
STEP_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def qapp() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["vsengine-qt-tests"])
    assert isinstance(app, QtWidgets.QApplication)
    return app


@pytest.fixture
def policy(qapp: QtWidgets.QApplication) -> Iterator[Policy]:
    with Policy(ContextVarStore()) as policy:
        yield policy
    set_loop(NO_LOOP)


def run[T](coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on a qtinter loop in owner mode (asyncio drives Qt's loop), failing after ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout), loop_factory=qtinter.new_event_loop)


async def wait_for_signal(signal: Any, timeout: float = STEP_TIMEOUT) -> tuple[Any, ...]:
    """The arguments of the next emission of ``signal``."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def slot(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(slot)
    try:
        return await asyncio.wait_for(future, timeout)
    finally:
        signal.disconnect(slot)
