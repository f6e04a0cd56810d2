"""Every ```python block of every docs/vsengine/*.md page runs.

The blocks of a page run in order in one namespace (a page may build on its earlier blocks), in
a temporary working directory, with the no-loop default active at the start. A python block
followed (after one blank line) by an ```output block must print exactly that text.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "vsengine"
PAGES = sorted(DOCS.glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\n```output\n(.*?)^```$)?", re.DOTALL | re.MULTILINE)


def python_blocks(page: Path) -> list[tuple[str, str]]:
    """(code, expected output) of each python block; the output is "" when the page shows none."""
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_pages_exist() -> None:
    names = {page.name for page in PAGES}
    assert {"index.md", "policy.md", "loops.md", "futures.md"} <= names


def test_the_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"index.md does not link {page.name}"


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, (block, expected) in enumerate(python_blocks(page), start=1):
        code = compile(block, f"{page.name} (python block {number})", "exec")
        if not expected:
            exec(code, namespace)
            continue
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(code, namespace)
        assert printed.getvalue() == expected, f"{page.name} (python block {number}) printed something else"


def test_output_blocks_follow_python_blocks() -> None:
    """An ```output block is checked only where it directly follows a python block."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        checked = sum(1 for _, expected in python_blocks(page) if expected)
        assert text.count("\n```output\n") == checked, f"{page.name}: an ```output block is not checked"
