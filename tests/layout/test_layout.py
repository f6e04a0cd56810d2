"""The layout every package keeps: what it exports exists and is named in its docs, its modules
import no cycle, and each package depends only on the packages below it (qtinter on no VapourSynth,
vsengine on no Qt).

The import and docs checks read the sources (they need nothing installed); the export check imports each
package the session installed (the `tests` sessions have vsengine, the `tests_qt` ones qtinter, and
vsengine_qt from Python 3.12).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = Path(__file__).resolve().parents[2]
#: Each package's sources, by the oldest Python that reads them (the import checks read only those
#: the running Python can parse: qtinter on 3.10 and 3.11, all three from 3.12).
ALL_SOURCES = {
    "vsengine": ((3, 12), ROOT / "packages/vsengine-core/src/vsengine"),
    "qtinter": ((3, 10), ROOT / "packages/qtinter/src/qtinter"),
    "vsengine_qt": ((3, 12), ROOT / "packages/vsengine-qt/src/vsengine_qt"),
}
SOURCES = {package: path for package, (oldest, path) in ALL_SOURCES.items() if sys.version_info >= oldest}
#: Where each package's documentation lives.
DOCS = {
    "vsengine": ROOT / "docs/vsengine",
    "qtinter": ROOT / "docs/qtinter",
    "vsengine_qt": ROOT / "docs/vsengine-qt",
}
#: What a package may never import (anywhere, not even inside a function): users install only
#: the part they need.
FORBIDDEN = {
    "vsengine": {"qtinter", "vsengine_qt", "PyQt5", "PyQt6", "PySide2", "PySide6"},
    "qtinter": {"vsengine", "vsengine_qt", "vapoursynth"},
}


def _module_files() -> dict[str, Path]:
    """Every module of the three packages, by dotted name (a package by its own name)."""
    modules = {}
    for package, source in SOURCES.items():
        for path in sorted(source.rglob("*.py")):
            parts = [package, *path.relative_to(source).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, *, at_import_time: bool) -> set[str]:
    """The modules *name* imports: at import time only (not in functions, not for type checking), or
    anywhere. `from package import module` imports the module, not the package's other names."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(nodes: Sequence[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                submodules = [f"{module}.{alias.name}" for alias in node.names]
                found.update(sub for sub in submodules if sub in MODULES)
                if any(sub not in MODULES for sub in submodules):
                    found.add(module)
            elif at_import_time and isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse)
            elif at_import_time and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            else:  # the statements inside (a class body, `if`, `try`, `with` and so on run too)
                for field in ("body", "handlers", "orelse", "finalbody"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit(children)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)).body)
    return found


def _ours(module: str) -> str | None:
    """The module of ours that importing *module* runs (a name inside it counts as the module)."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def _imported_at_import_time(name: str) -> set[str]:
    """The other modules of ours that importing *name* runs."""
    ours = {_ours(module) for module in _imports(name, at_import_time=True)}
    return {module for module in ours if module is not None and module != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of *graph*: the members of each strongly connected component of two or more modules."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in order:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                cycles.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in order:
            connect(node)
    return cycles


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {name: _imported_at_import_time(name) for name in MODULES}
    cycles = _cycles(graph)
    described = "; ".join(
        ", ".join(f"{name} imports {sorted(graph[name] & set(cycle))}" for name in cycle) for cycle in cycles
    )
    assert not cycles, f"import cycles (move what both need to a module both can import): {described}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN.keys() & SOURCES.keys()))
def test_a_package_imports_only_what_its_users_install(package: str) -> None:
    offending = {
        f"{name} imports {module}"
        for name in MODULES
        if name.split(".")[0] == package
        for module in _imports(name, at_import_time=False)
        if module.split(".")[0] in FORBIDDEN[package]
    }
    assert not offending, sorted(offending)


def _import_a_qt_binding() -> None:
    """qtinter's modules resolve their Qt names from the binding imported before them."""
    requested = os.environ.get("QTINTERBINDING")
    for binding in [requested] if requested else ["PySide6", "PyQt6", "PyQt5", "PySide2"]:
        if importlib.util.find_spec(binding) is not None:
            importlib.import_module(f"{binding}.QtCore")
            return


def _installed(package: str) -> bool:
    spec = importlib.util.find_spec(package)
    return spec is not None and spec.origin is not None  # not a namespace package (a tests/ folder)


INSTALLED = [package for package in SOURCES if _installed(package)]


@pytest.mark.parametrize("package", INSTALLED)
def test_every_exported_name_resolves(package: str) -> None:
    """`from package import *` (and from each public module) gives every name `__all__` lists."""
    if package != "vsengine":
        _import_a_qt_binding()
    top = importlib.import_module(package)
    modules = [top]
    for info in pkgutil.walk_packages(top.__path__, f"{package}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ModuleNotFoundError as exc:  # an optional dependency (trio, anyio) this session lacks
            if exc.name is None or exc.name.split(".")[0] in SOURCES:
                raise
    assert hasattr(top, "__all__"), f"{package} has no __all__"
    for module in modules:
        exported = getattr(module, "__all__", None)
        if exported is None:
            assert module.__name__ != package
            continue
        assert len(set(exported)) == len(exported), f"{module.__name__}.__all__ lists a name twice"
        missing = [name for name in exported if not hasattr(module, name)]
        assert not missing, f"{module.__name__}.__all__ lists names it does not have: {missing}"


def _exported(name: str) -> list[str]:
    """The names module *name* lists in ``__all__`` (a literal in every module of ours)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            names: list[str] = ast.literal_eval(node.value)
            return names
    return []


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_every_exported_name_is_documented(package: str) -> None:
    """Each name that the package or one of its public modules exports is named in its docs/ pages."""
    text = "\n".join(page.read_text(encoding="utf-8") for page in sorted(DOCS[package].rglob("*.md")))
    public = [
        name
        for name in MODULES
        if name.split(".")[0] == package and not any(part.startswith("_") for part in name.split("."))
    ]
    undocumented = [
        f"{module}.{name}"
        for module in public
        for name in _exported(module)
        if not re.search(rf"\b{re.escape(name)}\b", text)
    ]
    assert not undocumented, f"named nowhere in {DOCS[package].relative_to(ROOT)}/: {undocumented}"
