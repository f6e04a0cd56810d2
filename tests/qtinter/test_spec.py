"""The code blocks of the documents qtinter was made from, run unchanged, in a fresh process.

:data:`SLEEP` and :data:`COLOR` are verbatim copies of the two Python blocks of the spec's
qtinter README (``qtinter-readme.md``; when the spec directory is at hand, a test checks that the
copies still match). Each runs as its own program, with no binding imported before it and no
``QTINTERBINDING``: it imports qtinter first and its binding afterwards, as written.
``spec_harness.py`` plays the user (clicks, picks a colour, closes the window through a Qt timer);
with another binding than the PyQt6 they name, only the binding's name changes.

The spec's other documents have no runnable code: ``qtinter-internals.rst`` has none, and the
block of ``asyncslot-readme.md`` is a fragment (``# lines omitted``) of a predecessor package that
README calls unimplemented (see docs/qtinter/compatibility.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qtinter.bindings import __binding__

HERE = Path(__file__).resolve().parent
SPEC = Path(os.environ.get("QTINTER_SPEC_DIR", "/work/shared/spec")) / "qtinter-readme.md"
BAD_STDERR = re.compile(r"Traceback|Unhandled exception|never retrieved|was never awaited|ResourceWarning")

SLEEP = """\
import asyncio
import qtinter  # <-- import module
from PyQt6 import QtWidgets

async def sleep():
    button.setEnabled(False)
    await asyncio.sleep(1)
    button.setEnabled(True)

if __name__ == "__main__":
    app = QtWidgets.QApplication([])

    button = QtWidgets.QPushButton()
    button.setText('Sleep for one second')
    button.clicked.connect(qtinter.asyncslot(sleep))  # <-- wrap coroutine function
    button.show()

    with qtinter.using_asyncio_from_qt():  # <-- enclose in context manager
        app.exec()
"""

COLOR = """\
import asyncio
import qtinter  # <-- import module
from PyQt6 import QtWidgets

async def choose_color():
    dialog = QtWidgets.QColorDialog()
    dialog.show()
    result = await qtinter.asyncsignal(dialog.finished)  # <-- wait for signal
    if result == QtWidgets.QDialog.DialogCode.Accepted:
        return dialog.selectedColor().name()
    else:
        return None

if __name__ == "__main__":
    app = QtWidgets.QApplication([])
    with qtinter.using_qt_from_asyncio():  # <-- enclose in context manager
        color = asyncio.run(choose_color())
        if color is not None:
            print(color)
"""


def fresh_process_env() -> dict[str, str]:
    """This environment without QTINTERBINDING: the program alone decides which binding it imports."""
    env = {k: v for k, v in os.environ.items() if k != "QTINTERBINDING"}
    return {**env, "QT_QPA_PLATFORM": "offscreen", "PYTHONDEVMODE": "1"}


def for_this_binding(code: str) -> str:
    """*code* with PyQt6 replaced by this session's binding (and ``exec`` spelled ``exec_`` in PySide2)."""
    code = code.replace("PyQt6", __binding__)
    if __binding__ == "PySide2":
        code = re.sub(r"\.exec\(\)", ".exec_()", code)
    return code


def run_driven(code: str, driver: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "example.py"
    program.write_text(for_this_binding(code))
    return subprocess.run(
        [sys.executable, str(HERE / "spec_harness.py"), str(program), driver],
        cwd=tmp_path,
        env=fresh_process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_sleep_example_disables_the_button_for_the_sleep(tmp_path: Path) -> None:
    result = run_driven(SLEEP, "sleep", tmp_path)
    assert result.returncode == 0, result.stderr
    assert not BAD_STDERR.search(result.stderr), result.stderr
    assert result.stdout.splitlines() == [
        "enabled before the click: True",
        "enabled right after the click: False",  # the eager first step ran inside click()
        "enabled after the sleep: True",
    ]


def test_the_color_example_prints_the_chosen_color(tmp_path: Path) -> None:
    result = run_driven(COLOR, "color", tmp_path)
    assert result.returncode == 0, result.stderr
    assert not BAD_STDERR.search(result.stderr), result.stderr
    # Printed only if asyncsignal gave the bare DialogCode the example compares with Accepted.
    assert result.stdout.splitlines() == ["#008080"]


def spec_blocks() -> list[str]:
    return re.findall(r"^```Python\n(.*?)^```", SPEC.read_text(), flags=re.DOTALL | re.MULTILINE)


@pytest.mark.skipif(not SPEC.is_file(), reason=f"the spec is not at {SPEC} (set QTINTER_SPEC_DIR)")
def test_the_copies_are_the_spec_blocks() -> None:
    assert spec_blocks() == [SLEEP, COLOR]
