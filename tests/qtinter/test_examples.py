"""The interop examples (packages/qtinter/examples) and the code of docs/qtinter/interop.md run.

Each runs in a subprocess, offscreen, with the binding of this test session, and must exit 0
without a traceback or an unhandled-error report on stderr, printing what it promises: the
``EXPECTED`` lines for the examples, and for the doc's blocks exactly the lines their
``print(...)  # ...`` comments name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qtinter.bindings import __binding__

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "packages" / "qtinter" / "examples"
DOC = ROOT / "docs" / "qtinter" / "interop.md"
TIMEOUT = 120

#: What each example prints when it ran as it should (``--demo`` makes it drive itself and exit).
EXPECTED = {
    "sleep.py": ["enabled right after the click: False", "enabled after the sleep: True"],
    "color.py": ["ticks while the dialog was open: at least 3", "chosen: #008080"],
    "http_fetch.py": ["HTTP/1.1 200 OK", "Hello from asyncio, served while Qt runs."],
    "stopwatch.py": ["stopped: True ticks >= 10: True"],
}
#: The doc page calls ``exec()``, which PySide2 spells ``exec_()`` (the examples' qt.py adapts it).
PYSIDE2 = pytest.mark.skipif(__binding__ == "PySide2", reason="PySide2 names exec() exec_()")
BAD_STDERR = re.compile(r"Traceback|Unhandled exception|never retrieved|was never awaited|ResourceWarning")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QTINTERBINDING": __binding__,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONDEVMODE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(EXAMPLES), os.environ.get("PYTHONPATH")) if p),
    }
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert not BAD_STDERR.search(result.stderr), result.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_by_itself(name: str) -> None:
    result = _run([sys.executable, str(EXAMPLES / name), "--demo"], cwd=EXAMPLES)
    _check(result)
    for line in EXPECTED[name]:
        assert line in result.stdout, result.stdout


def _doc_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE)


@PYSIDE2
def test_the_doc_page_has_runnable_examples() -> None:
    assert len(_doc_blocks()) >= 7


#: ``print(...)  # what it prints``: the output each doc example promises.
PRINTED = re.compile(r"^\s*print\(.*\)\s+# (.+)$", re.MULTILINE)


@PYSIDE2
def test_every_doc_example_says_what_it_prints() -> None:
    assert all(PRINTED.findall(code) for code in _doc_blocks())


@PYSIDE2
@pytest.mark.parametrize("index", range(len(_doc_blocks())))
def test_doc_example_runs_and_prints_what_it_says(index: int, tmp_path: Path) -> None:
    code = _doc_blocks()[index]
    if "loop_factory=" in code and sys.version_info < (3, 12):
        pytest.skip("asyncio.run(loop_factory=...) needs Python 3.12")
    script = tmp_path / f"interop_doc_{index}.py"
    script.write_text(code.replace("PyQt6", __binding__))
    result = _run([sys.executable, str(script)], cwd=tmp_path)
    _check(result)
    assert result.stdout.splitlines() == PRINTED.findall(code)
