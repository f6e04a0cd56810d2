"""Patch an installed program at run time, by its syntax tree: the ports of vsview and vs-preview.

A port is a list of :class:`Hunk`s. Each finds one place in a module of the installed program (a
definition by qualified name, or the statements of a definition that a predicate picks) and puts
our code there: in place of it, before it or after it. The hunks name what they replace and carry
only our code, so nothing of the program's own source is stored in this repository.

:func:`apply` copies the installed package to a scratch directory, applies the hunks to the copy,
checks that every patched module compiles, and returns the unified diff (for the program's authors,
against the version installed) with its line counts. The drivers then import the program from the
copy (it goes first on ``sys.path``); the installed program is never modified.

Stdlib only: it runs inside the client's own environment.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import shutil
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    Predicate = Callable[[ast.stmt], bool]


@dataclass(frozen=True)
class Hunk:
    """One change to one module of the program.

    ``target`` is the qualified name of a function or class (``"PlaybackToolbar.play"``; the last
    definition of a name wins, so ``@overload`` stubs are skipped), or ``""`` for the module.
    Without ``where`` the hunk applies to the target's whole definition (decorators included);
    with it, to the statements inside the target for which ``where`` is true (searched through
    compound statements, not into nested definitions): consecutive ones form one run, and the
    hunk needs exactly one run unless ``nth`` picks one (``-1``: the last); ``nested=False`` looks
    at the target's own statements only (not at imports under ``if TYPE_CHECKING:``, say).
    ``new`` is our code, written unindented (the hunk indents it as the place it goes to); ``""``
    removes.
    """

    file: str
    target: str
    new: str
    why: str
    where: Predicate | None = None
    nth: int | None = None
    nested: bool = True
    position: Literal["replace", "before", "after"] = "replace"


class PortError(Exception):
    """A hunk does not fit the installed program (a different version?)."""


@dataclass(frozen=True)
class Port:
    """A patched copy of a package, and what the patch changed."""

    root: Path  # the directory to put first on sys.path
    diff: str
    added: int
    removed: int
    per_hunk: list[tuple[str, str, int, int]]  # (file, why, code lines added, code lines removed)


# -- predicates --------------------------------------------------------------------------------------


def mentions(*names: str) -> Predicate:
    """Statements that use one of ``names`` as a variable or an attribute (``self.<name>``)."""

    def match(stmt: ast.stmt) -> bool:
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Name) and node.id in names) or (
                isinstance(node, ast.Attribute) and node.attr in names
            ):
                return True
        return False

    return match


def defines(*names: str) -> Predicate:
    """Function and class definitions named one of ``names``, and assignments to such a name."""

    def match(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return stmt.name in names
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            return any(isinstance(t, ast.Name) and t.id in names for t in targets)
        return False

    return match


def calls(dotted: str) -> Predicate:
    """Expression statements that call ``dotted`` (e.g. ``"self.play_timer.start"``)."""

    def match(stmt: ast.stmt) -> bool:
        return (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and ast.unparse(stmt.value.func) == dotted
        )

    return match


def is_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Import | ast.ImportFrom)


# -- applying ----------------------------------------------------------------------------------------


def apply(package: Path, hunks: Sequence[Hunk], scratch: Path) -> Port:
    """Copy ``package`` (an installed package directory) into ``scratch`` and apply ``hunks`` there."""
    root = scratch / "ported"
    copy = root / package.name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    diffs: list[str] = []
    per_hunk: list[tuple[str, str, int, int]] = []
    for file in dict.fromkeys(h.file for h in hunks):
        path = copy / file
        original = path.read_text(encoding="utf-8")
        patched, counts = _patch(original, [h for h in hunks if h.file == file], file)
        try:
            compile(patched, str(path), "exec")
        except SyntaxError as exc:
            raise PortError(f"{file}: the patched module does not compile: {exc}") from None
        path.write_text(patched, encoding="utf-8")
        per_hunk.extend(counts)
        name = f"{package.name}/{file}"
        diffs.extend(
            difflib.unified_diff(
                original.splitlines(keepends=True),
                patched.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )
    diff = "".join(diffs)
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return Port(root, diff, added, removed, per_hunk)


def _patch(source: str, hunks: Sequence[Hunk], file: str) -> tuple[str, list[tuple[str, str, int, int]]]:
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str], Hunk]] = []  # (first line, end line (exclusive), new lines)
    for hunk in hunks:
        run = _select(tree, hunk, file)
        first = min([run[0].lineno, *(d.lineno for d in getattr(run[0], "decorator_list", []))]) - 1
        end = run[-1].end_lineno or run[-1].lineno
        indent = " " * run[0].col_offset
        new = [indent + line if line.strip() else line for line in _code_lines(hunk.new)]
        if hunk.position == "before":
            edits.append((first, first, new, hunk))
        elif hunk.position == "after":
            edits.append((end, end, new, hunk))
        else:
            if not new and (first == 0 or not lines[first - 1].strip()):
                # a removal between blank lines takes the ones after it along
                while end < len(lines) and not lines[end].strip():
                    end += 1
            edits.append((first, end, new, hunk))
    edits.sort(key=lambda e: (e[0], e[1]))
    for (_, end, _, a), (start, _, _, b) in itertools.pairwise(edits):
        if start < end:
            raise PortError(f"{file}: hunks overlap: {a.why!r} and {b.why!r}")
    counts = {}
    for start, end, new, hunk in reversed(edits):
        counts[id(hunk)] = (file, hunk.why, _code(new), _code(lines[start:end]))
        lines[start:end] = new
    return "".join(lines), [counts[id(hunk)] for hunk in hunks]


def _code_lines(code: str) -> list[str]:
    """``code`` dedented, without the newline that opens a triple-quoted string; blank lines kept."""
    return textwrap.dedent(code).removeprefix("\n").splitlines(keepends=True)


def _code(lines: list[str]) -> int:
    """Lines of code: not blank."""
    return sum(1 for line in lines if line.strip())


def _select(tree: ast.Module, hunk: Hunk, file: str) -> list[ast.stmt]:
    body: list[ast.stmt] = tree.body
    definition: ast.stmt | None = None
    for name in filter(None, hunk.target.split(".")):
        found = [s for s in body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        found = [s for s in found if s.name == name]
        if not found:
            raise PortError(f"{file}: no definition {hunk.target!r} (for {hunk.why!r})")
        definition = found[-1]
        body = definition.body  # type: ignore[attr-defined]
    if hunk.where is None:
        if definition is None:
            raise PortError(f"{file}: a hunk without `where` needs a target (for {hunk.why!r})")
        return [definition]
    runs = list(_runs(body, hunk.where, hunk.nested))
    if hunk.nth is None and len(runs) != 1:
        raise PortError(f"{file}: {len(runs)} runs of statements match in {hunk.target!r} (for {hunk.why!r})")
    try:
        return runs[hunk.nth or 0]
    except IndexError:
        raise PortError(f"{file}: no run {hunk.nth} of matching statements in {hunk.target!r}") from None


def _runs(body: list[ast.stmt], where: Predicate, nested: bool) -> Iterator[list[ast.stmt]]:
    """Runs of consecutive matching statements in ``body`` (and, if ``nested``, the statement lists
    nested in it)."""
    run: list[ast.stmt] = []
    for stmt in body:
        if where(stmt):
            run.append(stmt)
            continue
        if run:
            yield run
            run = []
        if not nested or isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        blocks = [getattr(stmt, field, []) for field in ("body", "orelse", "finalbody")]
        blocks += [part.body for part in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]]
        for block in blocks:
            yield from _runs(block, where, nested)
    if run:
        yield run
