"""Choose the Qt binding qtinter works with.

The rule, applied once when qtinter is imported:

1. If exactly one of the supported bindings is already imported, it is used.
2. Otherwise the environment variable ``QTINTERBINDING`` names the binding.
3. Otherwise importing qtinter fails with an :class:`ImportError` that says what to do.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

__all__ = ["BINDING", "SUPPORTED_BINDINGS", "QtCore", "select_binding"]

#: The bindings qtinter supports, in the spelling of their import names.
SUPPORTED_BINDINGS: tuple[str, ...] = ("PyQt5", "PyQt6", "PySide2", "PySide6")

#: Name of the environment variable that chooses the binding when none is imported yet.
ENV_VAR = "QTINTERBINDING"

# For type checking only: mypy checks the package once per binding with
# ``--always-true TYPECHECK_PYSIDE6`` (PySide6) or without it (PyQt6).
TYPECHECK_PYSIDE6 = False


def select_binding(
    modules: Mapping[str, ModuleType | None] | None = None, environ: dict[str, str] | None = None
) -> str:
    """Return the name of the binding qtinter should use (see the module docstring).

    :raises ImportError: no binding is imported and none is chosen, several are imported and none is
        chosen, or ``QTINTERBINDING`` names something that is not a supported binding.
    """
    modules = sys.modules if modules is None else modules
    environ = dict(os.environ) if environ is None else environ
    # ``sys.modules[name] = None`` is how a module is blocked from being imported: not imported.
    imported = [name for name in SUPPORTED_BINDINGS if modules.get(name) is not None]
    choices = ", ".join(SUPPORTED_BINDINGS)
    if len(imported) == 1:
        return imported[0]
    requested = environ.get(ENV_VAR, "").strip()
    if requested:
        by_lower = {name.lower(): name for name in SUPPORTED_BINDINGS}
        chosen = by_lower.get(requested.lower())
        if chosen is None:
            raise ImportError(
                f"qtinter: {ENV_VAR}={requested!r} is not a Qt binding qtinter supports; use one of {choices}"
            )
        return chosen
    if imported:
        raise ImportError(
            f"qtinter: several Qt bindings are imported ({', '.join(imported)}) and qtinter cannot tell "
            f"which one the application uses; set the environment variable {ENV_VAR} to one of them"
        )
    raise ImportError(
        f"qtinter: no Qt binding is imported; import one of {choices} before importing qtinter, "
        f"or set the environment variable {ENV_VAR} to one of them"
    )


if TYPE_CHECKING:
    if TYPECHECK_PYSIDE6:
        from PySide6 import QtCore
    else:
        from PyQt6 import QtCore  # type: ignore[no-redef,unused-ignore]
    BINDING: str
else:
    BINDING = select_binding()
    try:
        QtCore = importlib.import_module(f"{BINDING}.QtCore")  # type: ignore[no-redef]
    except ImportError as exc:
        raise ImportError(
            f"qtinter: the Qt binding {BINDING} was chosen but its QtCore module cannot be imported: {exc}"
        ) from exc
