"""Choosing the Qt binding: the one already imported wins, else QTINTERBINDING, else a clear error."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import pytest
from loop_support import run_script

from qtinter._bindings import SUPPORTED_BINDINGS, select_binding

INSTALLED = [name for name in SUPPORTED_BINDINGS if importlib.util.find_spec(name) is not None]
CURRENT = os.environ["QTINTERBINDING"]


def fake_modules(*names: str) -> dict[str, ModuleType]:
    return {name: ModuleType(name) for name in names}


def test_the_one_imported_binding_wins_even_over_the_environment() -> None:
    assert select_binding(fake_modules("PySide6"), {}) == "PySide6"
    assert select_binding(fake_modules("PyQt5"), {"QTINTERBINDING": "PySide6"}) == "PyQt5"


def test_the_environment_chooses_when_none_or_several_are_imported() -> None:
    assert select_binding(fake_modules(), {"QTINTERBINDING": "PyQt6"}) == "PyQt6"
    assert select_binding(fake_modules(), {"QTINTERBINDING": "pyside2"}) == "PySide2"
    assert select_binding(fake_modules("PyQt6", "PySide6"), {"QTINTERBINDING": "PySide6"}) == "PySide6"


def test_no_binding_and_no_choice_is_an_import_error_naming_the_choices() -> None:
    with pytest.raises(ImportError, match="no Qt binding is imported") as info:
        select_binding(fake_modules(), {})
    for name in SUPPORTED_BINDINGS:
        assert name in str(info.value)
    assert "QTINTERBINDING" in str(info.value)


def test_several_imported_bindings_without_a_choice_is_an_error_that_says_so() -> None:
    with pytest.raises(ImportError, match=r"several Qt bindings are imported \(PyQt6, PySide6\)"):
        select_binding(fake_modules("PyQt6", "PySide6"), {})


def test_an_unknown_binding_name_is_an_error() -> None:
    with pytest.raises(ImportError, match="'Tkinter' is not a Qt binding qtinter supports"):
        select_binding(fake_modules(), {"QTINTERBINDING": "Tkinter"})


def test_import_qtinter_before_the_binding_resolves_it_on_first_use() -> None:
    result = run_script(
        f"""
        import asyncio, sys
        import qtinter
        from qtinter import asyncslot, modal, multisignal, new_event_loop  # no binding needed
        print("imported:", sorted(name for name in {list(SUPPORTED_BINDINGS)!r} if name in sys.modules))
        loop = new_event_loop()
        async def main():
            return "ran"
        try:
            loop.run_until_complete(main())
        except ImportError as error:
            print("first use:", error)
        loop.close()
        import {CURRENT}.QtCore  # the application imports its binding afterwards: the next use works
        app = {CURRENT}.QtCore.QCoreApplication([])
        loop = new_event_loop()
        print(loop.run_until_complete(main()), qtinter.bindings.__binding__)
        loop.close()
        """,
        env={k: v for k, v in os.environ.items() if k != "QTINTERBINDING"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "imported: []"
    assert lines[1].startswith("first use: qtinter: no Qt binding is imported")
    assert lines[2] == f"ran {CURRENT}"


def test_qtinter_bindings_exposes_every_module_of_the_chosen_binding() -> None:
    result = run_script(
        f"""
        import qtinter.bindings
        import {CURRENT}.QtCore
        from qtinter.bindings import QtCore, QtGui, QtWidgets, __binding__
        import {CURRENT}.QtGui, {CURRENT}.QtWidgets
        print(__binding__, QtCore is {CURRENT}.QtCore, QtGui is {CURRENT}.QtGui)
        print(QtWidgets is {CURRENT}.QtWidgets, hasattr(qtinter.bindings, "QtNoSuchModule"))
        try:
            from qtinter.bindings import QtNoSuchModule
        except ImportError as error:
            print("ImportError:", error)
        """,
        env={k: v for k, v in os.environ.items() if k != "QTINTERBINDING"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"{CURRENT} True True", "True False"]
    assert "cannot import name 'QtNoSuchModule'" in lines[2]


@pytest.mark.skipif(len(INSTALLED) < 2, reason="needs two Qt bindings installed")
def test_two_imported_bindings_in_a_real_process() -> None:
    first, second = INSTALLED[:2]
    # The packages only: two Qt 6 bindings cannot load their QtCore libraries into one process.
    # The packages only: two Qt 6 bindings cannot load their QtCore libraries into one process.
    source = f"import {first}, {second}\nimport qtinter\nprint(qtinter.bindings.__binding__)"
    env = {k: v for k, v in os.environ.items() if k != "QTINTERBINDING"}
    result = run_script(source, env=env)
    assert result.returncode == 1
    assert f"several Qt bindings are imported ({first}, {second})" in result.stderr
    result = run_script(source, env={**env, "QTINTERBINDING": second})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == second
