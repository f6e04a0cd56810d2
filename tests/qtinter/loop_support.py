"""Run a coroutine on a real qtinter loop in owner mode (asyncio drives Qt) or guest mode
(``app.exec()`` drives asyncio), for tests that must hold in both."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

import qtinter
from qtinter.bindings import QtCore

T = TypeVar("T")
Main = Callable[[], Coroutine[Any, Any, T]]
LoopFactory = Callable[[], qtinter.QiBaseEventLoop]

#: Every test body is bounded by this (seconds); a Qt-side guard ends a stuck guest run.
TIMEOUT = 20.0

#: ``@MODES def test_x(mode): run(mode, main)`` runs a test once per Qt-driven mode.
MODES = pytest.mark.parametrize("mode", ["owner", "guest"])


def app() -> Any:
    instance = QtCore.QCoreApplication.instance()
    assert instance is not None, "conftest creates the QApplication"
    return instance


def run_owner(main: Main[T], loop_factory: LoopFactory = qtinter.new_event_loop) -> T:
    """``asyncio.run(main(), loop_factory=qtinter.new_event_loop)``, also on Python 3.10."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(asyncio.wait_for(main(), TIMEOUT))
    loop = loop_factory()
    try:
        return loop.run_until_complete(asyncio.wait_for(main(), TIMEOUT))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def run_guest(main: Main[T], loop_factory: LoopFactory = qtinter.new_event_loop) -> T:
    """Run ``main()`` inside ``with qtinter.using_asyncio_from_qt(): app.exec()``."""
    outcome: dict[str, Any] = {}
    application = app()

    async def driver() -> None:
        try:
            outcome["result"] = await asyncio.wait_for(main(), TIMEOUT)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            application.exit(0)

    def guard() -> None:
        outcome.setdefault("error", TimeoutError("the guest loop did not finish"))
        application.exit(1)

    timer = QtCore.QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(guard)
    timer.start(int((TIMEOUT + 5) * 1000))
    try:
        with qtinter.using_asyncio_from_qt(loop_factory=loop_factory) as loop:
            loop.call_soon(lambda: loop.create_task(driver()))
            exec_app()
    finally:
        timer.stop()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]  # type: ignore[no-any-return]


def exec_app() -> int:
    application = app()
    run = getattr(application, "exec", None) or application.exec_
    return int(run())


def run(mode: str, main: Main[T], loop_factory: LoopFactory = qtinter.new_event_loop) -> T:
    """Run ``main()`` on a qtinter loop in ``mode`` ("owner" or "guest") and return its result."""
    if mode == "owner":
        return run_owner(main, loop_factory)
    if mode == "guest":
        return run_guest(main, loop_factory)
    raise ValueError(mode)


def run_script(
    source: str, *, timeout: float = 60.0, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh Python (by default with this process's binding); return the result."""
    env = dict(os.environ if env is None else env)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **popen,
    )


SCRIPT_PRELUDE = """
import asyncio, os, sys, importlib
QtCore = importlib.import_module(os.environ["QTINTERBINDING"] + ".QtCore")
import qtinter

def exec_qt(obj):  # exec() is exec_() in PySide2
    return (getattr(obj, "exec", None) or obj.exec_)()
"""
