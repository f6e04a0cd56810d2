"""The docs/vsengine-qt examples that import qtinter before their Qt binding run as written.

tests/vsengine_qt/test_qt_docs.py runs every block in this test process, where the binding is
imported long before the blocks run, so it cannot see their import order. Here each block that
imports qtinter before any binding runs alone in a fresh process, with no binding imported and no
``QTINTERBINDING``, and must print exactly what its ``print(...)  # expected`` comments say.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vsengine_qt._qt import BINDING

DOCS = Path(__file__).resolve().parents[2] / "docs" / "vsengine-qt"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXPECTED = re.compile(r"^\s*print\(.*\)\s+# (.+)$", re.MULTILINE)
IMPORT = re.compile(r"^(?:import|from) (qtinter|PySide6|PyQt6|PySide2|PyQt5)\b", re.MULTILINE)


def qtinter_first(block: str) -> bool:
    imported = IMPORT.findall(block)
    return bool(imported) and imported[0] == "qtinter" and len(set(imported)) > 1


CASES = [
    pytest.param(block, id=f"{page.name}-{number}")
    for page in sorted(DOCS.glob("*.md"))
    for number, block in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")), start=1)
    if qtinter_first(block)
]


def test_the_pages_have_such_examples() -> None:
    ids = {case.id for case in CASES}
    assert {"frames.md-1", "frames.md-2", "index.md-2"} <= ids, ids


@pytest.mark.parametrize("block", CASES)
def test_the_example_runs_in_a_fresh_process(block: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.replace("PySide6", BINDING), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "QTINTERBINDING"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    expected = EXPECTED.findall(block)
    assert expected, "the example says what it prints"
    assert result.stdout.splitlines() == expected
