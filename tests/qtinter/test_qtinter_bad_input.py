"""Bad input to qtinter's public entry points: wrong types, wrong states (loop closed, running, in
the wrong mode, no application), a binding missing or invalid. Each gives a clear exception that
names the problem and leaves no task, connection or running loop behind.

Each case has an id that docs/reliability.md lists in its table (a test checks both agree).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from interop_support import run_owner
from pytestqt.qt_compat import qt_api

import qtinter

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.usefixtures("qapp")

DOC = Path(__file__).parents[2] / "docs" / "reliability.md"
BINDING = qtinter.bindings.__binding__


async def _coro() -> int:
    return 1


class _Slotted:
    __slots__ = ()

    async def method(self) -> None:
        pass


def _plain(value: int) -> int:
    return value


async def _keyword_only(*, key: str) -> None:
    pass


def _closed_loop() -> asyncio.AbstractEventLoop:
    loop = qtinter.new_event_loop()
    loop.close()
    return loop


def _with_loop(method: str, *args: Any) -> None:
    """Call a method of a new (not running) loop, closing the loop afterwards."""
    loop = qtinter.new_event_loop()
    try:
        getattr(loop, method)(*args)
    finally:
        loop.close()


def _run_closed(method: str) -> None:
    loop = _closed_loop()
    if method == "start":
        loop.set_mode(qtinter.QiLoopMode.GUEST)  # type: ignore[attr-defined]
    coro = _coro()
    try:
        if method == "run_until_complete":
            loop.run_until_complete(coro)
        else:
            getattr(loop, method)(*([print] if method == "call_soon" else []))
    finally:
        coro.close()


#: (id, call, exception type, phrase) for calls made outside a running loop.
OUTSIDE: list[tuple[str, Callable[[], object], type, str]] = [
    (
        "qt-closed-run-until-complete",
        lambda: _run_closed("run_until_complete"),
        RuntimeError,
        "Event loop is closed",
    ),
    ("qt-closed-run-forever", lambda: _run_closed("run_forever"), RuntimeError, "Event loop is closed"),
    ("qt-closed-call-soon", lambda: _run_closed("call_soon"), RuntimeError, "Event loop is closed"),
    ("qt-closed-start", lambda: _run_closed("start"), RuntimeError, "Event loop is closed"),
    (
        "qt-set-mode-type",
        lambda: _with_loop("set_mode", "guest"),
        TypeError,
        "set_mode() expects a QiLoopMode",
    ),
    (
        "qt-start-in-owner-mode",
        lambda: _with_loop("start"),
        RuntimeError,
        "start() runs the loop in guest mode, but this loop is in OWNER mode",
    ),
    (
        "qt-asyncslot-not-callable",
        lambda: qtinter.asyncslot(42),  # type: ignore[arg-type]
        TypeError,
        "asyncslot() needs a coroutine function (defined with `async def`) or a callable that returns",
    ),
    (
        "qt-asyncslot-task-runner",
        lambda: qtinter.asyncslot(_coro, task_runner=42),  # type: ignore[arg-type]
        TypeError,
        "asyncslot(task_runner=...) needs a callable that takes a coroutine and returns a task",
    ),
    (
        "qt-asyncslot-keyword-only",
        lambda: qtinter.asyncslot(_keyword_only),
        TypeError,
        "its keyword-only parameter 'key' has no default, and a signal passes arguments by position only",
    ),
    (
        "qt-asyncslot-not-weakrefable",
        lambda: qtinter.asyncslot(_Slotted().method),
        TypeError,
        "a _Slotted object cannot be weakly referenced",
    ),
    (
        "qt-asyncslot-no-loop",
        lambda: qtinter.asyncslot(_coro)(),
        RuntimeError,
        "no event loop is running in this thread",
    ),
    (
        "qt-run-task-no-loop",
        lambda: qtinter.run_task(_coro()),
        RuntimeError,
        "run_task() needs a running event loop in this thread",
    ),
    ("qt-modal-not-callable", lambda: qtinter.modal(42), TypeError, "modal() needs a callable"),  # type: ignore[arg-type]
    ("qt-modal-coroutine-function", lambda: qtinter.modal(_coro), TypeError, "is a coroutine function"),
    (
        "qt-multisignal-not-mapping",
        lambda: qtinter.multisignal([]),
        TypeError,  # type: ignore[arg-type]
        "multisignal() needs a mapping",
    ),
    (
        "qt-multisignal-not-signal",
        lambda: qtinter.multisignal({42: "a"}),
        TypeError,
        "needs a bound Qt signal",
    ),
    (
        "qt-multisignal-reversed",
        lambda: qtinter.multisignal({"a": qt_api.QtCore.QTimer().timeout}),
        TypeError,
        "multisignal() takes {signal: tag, ...}, but the signals of this mapping are its values",
    ),
    (
        "qt-signalstream-not-signal",
        lambda: qtinter.asyncsignalstream("x"),
        TypeError,  # type: ignore[arg-type]
        "asyncsignalstream() needs a bound Qt signal",
    ),
    (
        "qt-signalstream-maxsize",
        lambda: qtinter.asyncsignalstream(qt_api.QtCore.QTimer().timeout, maxsize=-1),
        ValueError,
        "maxsize must be an int >= 0",
    ),
]


@pytest.mark.parametrize(("call", "error", "phrase"), [pytest.param(*c[1:], id=c[0]) for c in OUTSIDE])
def test_bad_input_outside_a_loop(
    call: Callable[[], object], error: type[BaseException], phrase: str
) -> None:
    with pytest.raises(error, match=re.escape(phrase)):
        call()
    assert asyncio._get_running_loop() is None  # no loop left running or set


async def _in_loop(case: str) -> None:
    loop = asyncio.get_running_loop()
    if case == "qt-run-while-running":
        coro = _coro()
        try:
            loop.run_until_complete(coro)
        finally:
            coro.close()
    elif case == "qt-set-mode-while-running":
        loop.set_mode(qtinter.QiLoopMode.GUEST)  # type: ignore[attr-defined]
    elif case == "qt-asyncsignal-not-signal":
        await qtinter.asyncsignal(42)  # type: ignore[call-overload]
    elif case == "qt-asyncslot-bad-arguments":

        async def needs_two(a: int, b: int) -> None:
            pass

        qtinter.asyncslot(needs_two)(1)
    elif case == "qt-asyncslot-not-coroutine":
        qtinter.asyncslot(_plain)(7)  # type: ignore[arg-type]
    elif case == "qt-run-task-nesting":
        qtinter.run_task(_coro(), allow_task_nesting=False)
    elif case == "qt-guest-inside-running-loop":
        with qtinter.using_asyncio_from_qt():
            pass


#: (id, exception type, phrase) for calls made inside a running owner-mode loop.
INSIDE: list[tuple[str, type, str]] = [
    ("qt-run-while-running", RuntimeError, "already running"),
    ("qt-set-mode-while-running", RuntimeError, "cannot change the mode of a running event loop"),
    ("qt-asyncsignal-not-signal", TypeError, "asyncsignal() needs a bound Qt signal"),
    ("qt-asyncslot-bad-arguments", TypeError, "needs_two() missing 1 required positional argument: 'b'"),
    ("qt-asyncslot-not-coroutine", TypeError, "_plain: calling it returned 7, not a coroutine"),
    ("qt-run-task-nesting", RuntimeError, "run_task(allow_task_nesting=False) was called from a running"),
    ("qt-guest-inside-running-loop", RuntimeError, "another loop is running"),
]


@pytest.mark.parametrize(("case", "error", "phrase"), [pytest.param(*c, id=c[0]) for c in INSIDE])
def test_bad_input_inside_a_running_loop(case: str, error: type[BaseException], phrase: str) -> None:
    async def main() -> None:
        before = asyncio.all_tasks()
        with pytest.raises(error, match=re.escape(phrase)):
            await _in_loop(case)
        assert asyncio.all_tasks() == before  # no task started
        assert asyncio.get_running_loop().is_running()  # the loop carries on

    run_owner(main)


def _child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONDEVMODE": "1", **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        pytest.param(
            "PyQt7", "QTINTERBINDING='PyQt7' is not a Qt binding qtinter supports", id="qt-binding-invalid"
        ),
        pytest.param(
            BINDING,
            f"the Qt binding {BINDING} was chosen but its QtCore module cannot be imported",
            id="qt-binding-missing",
        ),
    ],
)
def test_binding_invalid_or_missing(value: str, phrase: str) -> None:
    # The chosen binding is made unimportable in the child (as if it were not installed).
    result = _child(
        f"""
        import sys
        sys.modules[{BINDING + ".QtCore"!r}] = None
        import qtinter
        try:
            qtinter.new_event_loop().run_forever()  # the first use of Qt chooses the binding
        except ImportError as error:
            print("ImportError:", error)
        """,
        QTINTERBINDING=value,
    )
    assert result.returncode == 0, result.stderr
    assert phrase in result.stdout, result.stdout


def test_guest_mode_without_an_application() -> None:
    """qt-guest-no-app"""
    result = _child(
        """
        import qtinter
        try:
            with qtinter.using_asyncio_from_qt():
                pass
        except RuntimeError as error:
            print("RuntimeError:", error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "GUEST mode needs a QCoreApplication" in result.stdout
    assert "never awaited" not in result.stderr


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is Python 3.12+")
def test_owner_mode_without_an_application() -> None:
    """qt-owner-no-app"""
    result = _child(
        """
        import asyncio, qtinter
        async def main():
            return 1
        try:
            asyncio.run(main(), loop_factory=qtinter.new_event_loop)
        except RuntimeError as error:
            print("RuntimeError:", error, "| context:", error.__context__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "OWNER mode needs a QCoreApplication" in result.stdout
    assert "context: None" in result.stdout  # one error, not the same one twice
    assert "Task was destroyed but it is pending" not in result.stderr
    assert "never awaited" not in result.stderr


def test_a_blocked_binding_is_not_an_imported_one() -> None:
    """qt-binding-blocked"""
    others = [b for b in ("PyQt5", "PyQt6", "PySide2", "PySide6") if b != BINDING]
    result = _child(
        f"""
        import sys
        import {BINDING}.QtCore
        for name in {others!r}:
            sys.modules[name] = None
        import qtinter
        print("chosen:", qtinter.bindings.__binding__)
        """,
        QTINTERBINDING="",
    )
    assert f"chosen: {BINDING}" in result.stdout, result.stderr[-500:]


def test_every_case_is_in_the_reliability_table() -> None:
    table = DOC.read_text()
    source = Path(__file__).read_text()
    ids = (
        [c[0] for c in OUTSIDE] + [c[0] for c in INSIDE] + re.findall(r'(?:id="|""")(qt-[a-z0-9-]+)', source)
    )
    missing = [i for i in ids if f"`{i}`" not in table]
    assert not missing, f"docs/reliability.md lacks rows for {missing}"
