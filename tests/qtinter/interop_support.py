"""Helpers shared by the interop tests (asyncslot, signals, modal): run a coroutine on a real qtinter
loop in owner mode (``asyncio`` drives) or guest mode (``app.exec()`` drives), and small Qt utilities.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from pytestqt.qt_compat import qt_api

import qtinter

T = TypeVar("T")

#: Guards every test against hanging: after this long the Qt loop is stopped and the test fails.
DEADLINE_MS = 20_000

Main = Callable[[], Coroutine[Any, Any, T]]


def run_owner(main: Main[T]) -> T:
    """``asyncio.run(main(), loop_factory=qtinter.new_event_loop)``, also on Python 3.10."""

    async def bounded() -> T:
        try:
            return await asyncio.wait_for(main(), DEADLINE_MS / 1000)
        except asyncio.TimeoutError:  # TimeoutError from 3.11 on
            raise TimeoutError(f"the test did not finish within {DEADLINE_MS} ms") from None

    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=qtinter.new_event_loop) as runner:
            return runner.run(bounded())
    loop = qtinter.new_event_loop()
    try:
        return loop.run_until_complete(bounded())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def run_guest(main: Main[T]) -> T:
    """Run ``main()`` as an asyncslot inside ``with qtinter.using_asyncio_from_qt(): app.exec()``."""
    app = qt_api.QtWidgets.QApplication.instance()
    assert app is not None
    outcome: dict[str, Any] = {}

    async def driver() -> None:
        try:
            outcome["result"] = await main()
        except BaseException as exc:
            outcome.setdefault("error", exc)  # a deadline, if it came first, is the real story
        finally:
            app.exit(0)

    def deadline() -> None:
        outcome.setdefault("error", TimeoutError(f"the test did not finish within {DEADLINE_MS} ms"))
        app.exit(1)

    timer = qt_api.QtCore.QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(deadline)
    timer.start(DEADLINE_MS)
    with qtinter.using_asyncio_from_qt():
        qt_api.QtCore.QTimer.singleShot(0, qtinter.asyncslot(driver))
        exec_of(app)()
    timer.stop()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]  # type: ignore[no-any-return]


RUNNERS: dict[str, Callable[[Main[Any]], Any]] = {"owner": run_owner, "guest": run_guest}

#: Runs a test once per mode: ``@MODES def test_x(mode): ... run(mode, main)``.
MODES = pytest.mark.parametrize("mode", ["owner", "guest"])


def run(mode: str, main: Main[T]) -> T:
    """Run ``main()`` on a qtinter loop in *mode* ("owner" or "guest") and return its result."""
    app = qt_api.QtWidgets.QApplication.instance()
    # A dialog closing would otherwise quit the application when no other window is open: in guest
    # mode that ends app.exec(), and a quit posted late would end the next test's loop.
    app.setQuitOnLastWindowClosed(False)
    return RUNNERS[mode](main)  # type: ignore[no-any-return]


def exec_of(obj: Any) -> Callable[[], Any]:
    """``obj.exec`` (``exec_`` in PySide2, where ``exec`` was a keyword once)."""
    return getattr(obj, "exec", None) or obj.exec_  # type: ignore[no-any-return]


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll *predicate* on the asyncio loop (so it only succeeds if asyncio keeps running)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


def signal_connected(obj: Any, name: str) -> bool:
    """Whether the signal *name* of *obj* (an instance of a Python QObject subclass) has receivers."""
    meta = obj.metaObject()
    for index in range(meta.methodCount()):
        method = meta.method(index)
        if bytes(method.name()).decode() == name and method.methodType() == method.MethodType.Signal:
            return bool(obj.isSignalConnected(method))
    raise AssertionError(f"{type(obj).__name__} has no signal {name!r}")


def process_deferred_deletes() -> None:
    """Destroy objects on which deleteLater() was called (PyQt also frees connection proxies so)."""
    qt_api.QtCore.QCoreApplication.sendPostedEvents(None, qt_api.QtCore.QEvent.Type.DeferredDelete)
