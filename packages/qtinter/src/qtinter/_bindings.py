"""Choose the Qt binding qtinter works with, the first time qtinter needs one.

``import qtinter`` imports no binding, so an application may import qtinter first and its binding
afterwards. The first use of Qt (running a loop, ``asyncslot``, ``asyncsignal``, ``from
qtinter.bindings import QtWidgets``, ...) applies this rule, and the answer is kept for the
life of the process:

1. If exactly one of the supported bindings is already imported, it is used.
2. Otherwise the environment variable ``QTINTERBINDING`` names the binding.
3. Otherwise that first use raises an :class:`ImportError` that says what to do (and the next use
   tries again, so importing a binding afterwards still works).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SUPPORTED_BINDINGS", "QtCore", "binding", "binding_module", "select_binding"]

#: The bindings qtinter supports, in the spelling of their import names.
SUPPORTED_BINDINGS: tuple[str, ...] = ("PyQt5", "PyQt6", "PySide2", "PySide6")

#: Name of the environment variable that chooses the binding when none is imported yet.
ENV_VAR = "QTINTERBINDING"

# For type checking only: mypy checks the package once per binding with
# ``--always-true TYPECHECK_PYSIDE6`` (PySide6) or without it (PyQt6).
TYPECHECK_PYSIDE6 = False


def select_binding(
    modules: Mapping[str, types.ModuleType | None] | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """Return the name of the binding qtinter should use (see the module docstring).

    :raises ImportError: no binding is imported and none is chosen, several are imported and none is
        chosen, or ``QTINTERBINDING`` names something that is not a supported binding.
    """
    modules = sys.modules if modules is None else modules
    environ = os.environ if environ is None else environ
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
        f"qtinter: no Qt binding is imported; import one of {choices} before using qtinter "
        f"(importing qtinter itself first is fine), or set the environment variable {ENV_VAR} to one of them"
    )


_chosen: str | None = None


def binding() -> str:
    """The import name of the binding qtinter uses, chosen on the first call (see the module docstring).

    :raises ImportError: as :func:`select_binding`; nothing is remembered then, so a later call
        (after the application imported its binding) succeeds.
    """
    global _chosen
    if _chosen is None:
        _chosen = select_binding()
    return _chosen


def binding_module(name: str) -> types.ModuleType:
    """The module *name* (``"QtCore"``, ``"QtWidgets"``, ``"QtPositioning"``, ...) of the chosen binding.

    :raises ImportError: no binding can be chosen, or the module cannot be imported
        (:class:`ModuleNotFoundError` if it, or the binding, is not installed).
    """
    package = binding()
    try:
        return importlib.import_module(f"{package}.{name}")
    except ImportError as exc:
        message = f"qtinter: the Qt binding {package} was chosen but its {name} module cannot be imported"
        message = f"{message}: {exc}"
        if isinstance(exc, ModuleNotFoundError):
            raise ModuleNotFoundError(message, name=exc.name) from exc
        raise ImportError(message) from exc


#: Held while qtinter touches a part of the binding for the first time. The bindings create types and
#: enums on first use, PySide6 not thread-safely (two threads starting their first qtinter loops at
#: once saw ``Qt.TimerType`` as None), and with the binding chosen on first use, that first use can
#: be in any thread.
FIRST_USE = threading.RLock()


class _LazyQtCore(types.ModuleType):
    """The chosen binding's ``QtCore`` for qtinter's own modules, resolved on the first attribute read.

    Each attribute read is copied onto this object, so later reads of it cost what reading it from the
    real module costs.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        with FIRST_USE:
            value = getattr(binding_module("QtCore"), name)
        setattr(self, name, value)
        return value


if TYPE_CHECKING:
    if TYPECHECK_PYSIDE6:
        from PySide6 import QtCore
    else:
        from PyQt6 import QtCore  # type: ignore[no-redef,unused-ignore]
else:
    QtCore = _LazyQtCore("qtinter._bindings.QtCore")
