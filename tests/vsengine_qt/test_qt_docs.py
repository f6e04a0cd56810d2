"""Every ```python block of every docs/vsengine-qt/*.md page runs, with the binding under test.

The examples are written with PySide6; the test runs them with the binding of this session by
replacing the module name. The blocks of a page run in order in one namespace, in a temporary
working directory, and what they print must equal the comments after their ``print(...)`` calls.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import re
from pathlib import Path

import pytest

import vsengine_qt
from vsengine.loops import NO_LOOP, get_loop
from vsengine_qt._qt import BINDING

DOCS = Path(__file__).resolve().parents[2] / "docs" / "vsengine-qt"
PAGES = sorted(DOCS.glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# print(...)  # the expected output
EXPECTED = re.compile(r"^(\s*)print\(.*\)\s+# (.+)$", re.MULTILINE)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def expected_lines(block: str) -> list[str]:
    return [match.group(2) for match in EXPECTED.finditer(block)]


def test_the_pages_exist_and_the_index_links_them() -> None:
    names = {page.name for page in PAGES}
    assert {"index.md", "frames.md", "previewer.md", "performance.md"} <= names
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        if page.name != "index.md":
            assert f"]({page.name}" in index, f"index.md does not link {page.name}"


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: object) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, block in enumerate(python_blocks(page), start=1):
        source = block.replace("PySide6", BINDING)
        code = compile(source, f"{page.name} (python block {number})", "exec")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        printed = out.getvalue().splitlines()
        assert printed == expected_lines(block), f"{page.name} block {number} printed {printed}"
        assert get_loop() is NO_LOOP, f"{page.name} block {number} left a vsengine loop active"


# A row of the reference's table: | `name(parameters) -> result` | ... (| `name` | for a class or value)
REFERENCE_ROW = re.compile(r"^\| `(\w+)(\(.*?\))?(?: -> [^`]+)?` \|", re.MULTILINE)


def _written_parameters(parameters: str) -> list[tuple[str, str, str | None]]:
    """The parameters of a signature as written, ``(name, kind, default)``: ``(a, b=1, *, c=None)``."""
    function = ast.parse(f"def f{parameters}: pass").body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args
    defaults: list[ast.expr | None] = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    written = [
        (a.arg, "positional", None if d is None else ast.unparse(d))
        for a, d in zip(args.args, defaults, strict=True)
    ]
    written += [
        (a.arg, "keyword", None if d is None else ast.unparse(d))
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    return written


def test_the_reference_gives_every_public_name_with_its_real_signature() -> None:
    rows = {
        m.group(1): m.group(2) for m in REFERENCE_ROW.finditer((DOCS / "reference.md").read_text("utf-8"))
    }
    assert sorted(rows) == sorted(vsengine_qt.__all__)
    kinds: dict[inspect._ParameterKind, str] = {
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.KEYWORD_ONLY: "keyword",
    }
    for name, parameters in rows.items():
        if parameters is None:
            continue
        actual = [
            (p.name, kinds.get(p.kind, str(p.kind)), None if p.default is p.empty else repr(p.default))
            for p in inspect.signature(getattr(vsengine_qt, name)).parameters.values()
        ]
        assert _written_parameters(parameters) == actual, f"reference.md gives {name}{parameters}"
