"""Small helpers that hide the differences between the four Qt bindings."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

from ._bindings import FIRST_USE, QtCore

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["app_instance", "enum_member", "exec_event_loop", "make_signal", "once"]

T = TypeVar("T")


def enum_member(owner: Any, enum_name: str, member: str) -> Any:
    """``owner.enum_name.member`` (Qt 6, scoped) or ``owner.member`` (Qt 5 bindings)."""
    with FIRST_USE:
        scoped = getattr(owner, enum_name, None)
        if scoped is not None and hasattr(scoped, member):
            return getattr(scoped, member)
        return getattr(owner, member)


def once(factory: Callable[[], T]) -> Callable[[], T]:
    """*factory*'s result, made by the first call (in one thread at a time) and returned by every call.

    For what must wait until the binding is chosen, such as ``QObject`` subclasses.
    """
    cached = functools.cache(factory)

    @functools.wraps(factory)
    def get() -> T:
        with FIRST_USE:
            return cached()

    return get


def exec_event_loop(loop: Any) -> int:
    """Run ``loop.exec()`` (``exec_()`` in PySide2) and return its exit code."""
    run = getattr(loop, "exec", None) or loop.exec_
    return int(run())


def app_instance() -> Any:
    """The QCoreApplication (or subclass) instance, or None."""
    return QtCore.QCoreApplication.instance()


def make_signal(*types: Any) -> Any:
    """A class attribute declaring a Qt signal (``pyqtSignal`` in PyQt, ``Signal`` in PySide)."""
    factory = getattr(QtCore, "pyqtSignal", None) or QtCore.Signal
    return factory(*types)
