"""The modules of the Qt binding qtinter uses, for code that must work with any binding.

>>> from qtinter.bindings import QtCore, QtWidgets  # any module of the binding, e.g. QtPositioning
>>> from qtinter.bindings import __binding__  # its import name, e.g. "PyQt6"

Importing this module chooses nothing: the binding is chosen (see :mod:`qtinter._bindings`) when
a name is first read from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bindings import binding, binding_module

if TYPE_CHECKING:
    from ._bindings import QtCore

    __binding__: str

__all__ = ["QtCore", "__binding__"]


def __getattr__(name: str) -> Any:
    if name == "__binding__":
        return binding()
    if name.startswith("__"):
        raise AttributeError(f"module 'qtinter.bindings' has no attribute {name!r}")
    try:
        return binding_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != f"{binding()}.{name}":
            raise
        # The binding has no such module: an attribute error (so hasattr() works), with the reason.
        raise AttributeError(f"module 'qtinter.bindings' has no attribute {name!r} ({exc})") from exc
