"""Every ``python`` block of the loop's doc pages (docs/qtinter/index.md, modes.md, bindings.md,
threads.md, ctrl-c.md) is a complete program: each runs in a subprocess, offscreen, with this
session's binding, exits 0, prints exactly the lines :data:`EXPECTED` lists for it (what the block
demonstrates), and writes no traceback or warning."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qtinter.bindings import __binding__

DOCS = Path(__file__).resolve().parents[2] / "docs" / "qtinter"
PAGES = ["index.md", "modes.md", "bindings.md", "threads.md", "ctrl-c.md", "comparison.md"]
BAD_STDERR = re.compile(r"Traceback|Unhandled exception|never retrieved|was never awaited|ResourceWarning")

#: Everything each block prints, line by line (page -> per block, in order, a list of patterns that
#: must match the whole line). Each is what the block demonstrates, so it fails without the feature.
EXPECTED: dict[str, list[list[str]]] = {
    "index.md": [
        [r"[1-9]\d* ticks"],  # the Qt timer ticked while asyncio slept
        [r"QiSelectorEventLoop"],
        [r"Fetched"],
        [r"OWNER"],
    ],
    "modes.md": [
        [r"done"],
        [r"\['GUEST'\]"],
        [r"\[\('child', 'eager'\), \('after run_task', 'Task-1'\), 'child done'\]"],
    ],
    "bindings.md": [[__binding__]],
    "threads.md": [[r"1000"], [r"\['guest loop in a QThread: GUEST', 'owner loop in worker-1'\]"]],
    "ctrl-c.md": [[r"KeyboardInterrupt after \['cleaned up'\]"]],
    "comparison.md": [],
}


def blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


CASES = [(page, index) for page in PAGES for index in range(len(blocks(page)))]


def test_every_block_has_an_expectation() -> None:
    for page in PAGES:
        assert len(blocks(page)) == len(EXPECTED[page]), page


@pytest.mark.parametrize(("page", "index"), CASES, ids=[f"{p}-{i}" for p, i in CASES])
def test_doc_block_runs(page: str, index: int, tmp_path: Path) -> None:
    code = blocks(page)[index]
    if "asyncio.run(main(), loop_factory=" in code and sys.version_info < (3, 12):
        pytest.skip("asyncio.run(loop_factory=...) needs Python 3.12")
    if "asyncio.Runner" in code and sys.version_info < (3, 11):
        pytest.skip("asyncio.Runner needs Python 3.11")
    if page == "ctrl-c.md" and sys.platform == "win32":
        pytest.skip("sends SIGINT")
    code = code.replace("PyQt6", __binding__)
    if __binding__ == "PySide2":
        code = re.sub(r"\.exec\(\)", ".exec_()", code)
    if __binding__ in ("PyQt5", "PySide2"):
        code = code.replace("QtCore.Qt.TimerType.", "QtCore.Qt.")
    script = tmp_path / f"{page.replace('.', '_').replace('-', '_')}_{index}.py"
    script.write_text(code)
    env = {
        **{k: v for k, v in os.environ.items() if k != "QTINTERBINDING"},
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONDEVMODE": "1",
    }
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert not BAD_STDERR.search(result.stderr), result.stderr
    lines = result.stdout.splitlines()
    expected = EXPECTED[page][index]
    assert len(lines) == len(expected), result.stdout
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}"
