"""The event-loop configurations the suite compares.

A configuration knows how to run one coroutine to completion the way an application using that
library would, and how to connect a Qt signal to a coroutine the way that library suggests. Each one
is set up in a fresh worker process, so only one Qt binding is ever imported per process.

Configurations:

``asyncio``
    Plain ``asyncio.run`` with the default selector loop: the reference every ratio is taken to.
``qtinter-owner-pyqt6`` / ``qtinter-owner-pyside6``
    ``asyncio.run(main(), loop_factory=qtinter.new_event_loop)`` with a ``QApplication``.
``qtinter-guest-pyqt6`` / ``qtinter-guest-pyside6``
    ``with qtinter.using_asyncio_from_qt(): app.exec()``, the coroutine started from a Qt callback.
``qasync-pyqt6``
    ``asyncio.run(main(), loop_factory=lambda: qasync.QEventLoop(app))`` (what ``qasync.run`` does);
    qasync always runs ``QApplication.exec`` underneath, so this is how it is normally used.
``qtasyncio-pyside6``
    ``PySide6.QtAsyncio.run(main(), keep_running=False)``: QtAsyncio runs ``QApplication.exec`` itself.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

Result = dict[str, float]
SlotFn = Callable[[int], Coroutine[Any, Any, None]]


class Unavailable(Exception):
    """The configuration cannot run in this environment (library not installed, ...)."""


@dataclass
class Ctx:
    """What a benchmark may use besides the running asyncio loop."""

    config: str
    #: ``QtCore`` of the binding in use, or None for plain asyncio.
    QtCore: ModuleType | None = None
    #: How ``connect_coroutine_slot`` connects: recorded in the results.
    slot_kind: str = ""
    _connect: Callable[[Any, SlotFn], None] | None = field(default=None, repr=False)

    def make_emitter(self) -> Any:
        """A fresh object with a signal ``fired(int)``.

        Without a Qt binding this is a pure-Python stand-in (a list of callbacks).
        """
        if self.QtCore is None:
            return _PyEmitter()
        return _qt_emitter_class(self.QtCore)()

    def connect_coroutine_slot(self, emitter: Any, coro_fn: SlotFn) -> None:
        """Connect ``emitter.fired`` so that each emission runs ``coro_fn(value)`` as a task."""
        if self._connect is None:
            emitter.fired.connect(lambda value: asyncio.get_running_loop().create_task(coro_fn(value)))
        else:
            self._connect(emitter.fired, coro_fn)


class _PySignal:
    def __init__(self) -> None:
        self._slots: list[Callable[[int], object]] = []

    def connect(self, slot: Callable[[int], object]) -> None:
        self._slots.append(slot)

    def emit(self, value: int) -> None:
        for slot in self._slots:
            slot(value)


class _PyEmitter:
    def __init__(self) -> None:
        self.fired = _PySignal()


_emitter_classes: dict[str, type] = {}


def _qt_emitter_class(QtCore: ModuleType) -> type:
    cls = _emitter_classes.get(QtCore.__name__)
    if cls is None:
        signal = getattr(QtCore, "pyqtSignal", None) or QtCore.Signal
        cls = type("Emitter", (QtCore.QObject,), {"fired": signal(int)})
        _emitter_classes[QtCore.__name__] = cls
    return cls


def _import_binding(binding: str) -> tuple[ModuleType, ModuleType]:
    """Import QtCore and QtWidgets of ``binding`` ('PyQt6' or 'PySide6')."""
    try:
        qtcore = importlib.import_module(f"{binding}.QtCore")
        qtwidgets = importlib.import_module(f"{binding}.QtWidgets")
    except ImportError as exc:
        raise Unavailable(f"{binding} is not importable: {exc}") from exc
    return qtcore, qtwidgets


def _make_app(binding: str) -> tuple[ModuleType, Any]:
    qtcore, qtwidgets = _import_binding(binding)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = qtwidgets.QApplication.instance() or qtwidgets.QApplication([sys.argv[0]])
    return qtcore, app


# --------------------------------------------------------------------------- plain asyncio


def _run_asyncio(main: Callable[[Ctx], Coroutine[Any, Any, Result]]) -> Result:
    return asyncio.run(main(Ctx("asyncio")))


def _run_asyncio_with(binding: str, main: Callable[[Ctx], Coroutine[Any, Any, Result]]) -> Result:
    """Plain asyncio with a Qt binding imported and a QApplication that never runs its loop.

    The reference for the signal benchmark: a direct signal-slot connection needs no Qt event
    loop, so the emission costs the same as under a Qt-hosted loop and the ratio shows only
    what the loop integration costs.
    """
    qtcore, _app = _make_app(binding)
    return asyncio.run(main(Ctx(f"asyncio+{binding.lower()}", qtcore, "plain slot -> loop.create_task")))


# --------------------------------------------------------------------------- qtinter


def _import_qtinter(binding: str) -> ModuleType:
    os.environ["QTINTERBINDING"] = binding.lower()
    try:
        return importlib.import_module("qtinter")
    except ImportError as exc:
        raise Unavailable(f"qtinter is not importable: {exc}") from exc


def _qtinter_ctx(config: str, qtcore: ModuleType, qtinter: ModuleType) -> Ctx:
    asyncslot = getattr(qtinter, "asyncslot", None)
    if asyncslot is None:
        return Ctx(config, qtcore, "plain slot -> loop.create_task (qtinter.asyncslot missing)")

    def connect(signal: Any, coro_fn: SlotFn) -> None:
        signal.connect(asyncslot(coro_fn))

    return Ctx(config, qtcore, "qtinter.asyncslot", connect)


def _run_qtinter_owner(binding: str, main: Callable[[Ctx], Coroutine[Any, Any, Result]]) -> Result:
    qtcore, _app = _make_app(binding)
    qtinter = _import_qtinter(binding)
    if not hasattr(qtinter, "new_event_loop"):
        raise Unavailable("qtinter.new_event_loop does not exist yet")
    ctx = _qtinter_ctx(f"qtinter-owner-{binding.lower()}", qtcore, qtinter)
    return asyncio.run(main(ctx), loop_factory=qtinter.new_event_loop)


def _run_qtinter_guest(binding: str, main: Callable[[Ctx], Coroutine[Any, Any, Result]]) -> Result:
    qtcore, app = _make_app(binding)
    qtinter = _import_qtinter(binding)
    if not hasattr(qtinter, "using_asyncio_from_qt"):
        raise Unavailable("qtinter.using_asyncio_from_qt does not exist yet")
    ctx = _qtinter_ctx(f"qtinter-guest-{binding.lower()}", qtcore, qtinter)
    box: dict[str, Any] = {}

    def start() -> None:
        try:
            task = asyncio.get_running_loop().create_task(main(ctx))
        except BaseException as exc:  # surfaced after exec() returns
            box["error"] = exc
            app.quit()
            return
        task.add_done_callback(lambda _t: app.quit())
        box["task"] = task

    with qtinter.using_asyncio_from_qt():
        qtcore.QTimer.singleShot(0, start)
        app.exec()
    if "error" in box:
        raise box["error"]
    if "task" not in box:
        raise RuntimeError("the guest-mode coroutine never started")
    return box["task"].result()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- comparison libraries


def _run_qasync(binding: str, main: Callable[[Ctx], Coroutine[Any, Any, Result]]) -> Result:
    qtcore, app = _make_app(binding)
    os.environ["QT_API"] = binding.lower()
    try:
        qasync = importlib.import_module("qasync")
    except ImportError as exc:
        raise Unavailable(f"qasync is not importable: {exc}") from exc

    def connect(signal: Any, coro_fn: SlotFn) -> None:
        signal.connect(qasync.asyncSlot()(coro_fn))

    ctx = Ctx(f"qasync-{binding.lower()}", qtcore, "qasync.asyncSlot", connect)
    return asyncio.run(main(ctx), loop_factory=lambda: qasync.QEventLoop(app))


def _run_qtasyncio(main: Callable[[Ctx], Coroutine[Any, Any, Result]]) -> Result:
    qtcore, _app = _make_app("PySide6")
    try:
        qtasyncio = importlib.import_module("PySide6.QtAsyncio")
    except ImportError as exc:
        raise Unavailable(f"PySide6.QtAsyncio is not importable (it ships in PySide6-Addons): {exc}") from exc
    ctx = Ctx("qtasyncio-pyside6", qtcore, "plain slot -> loop.create_task (QtAsyncio has no async slot)")
    return qtasyncio.run(main(ctx), keep_running=False)  # type: ignore[no-any-return]


#: Name -> runner. The order is the column order of the table. ``asyncio+<binding>`` is the
#: reference only for metrics that need a Qt binding but not a Qt loop (the signal benchmark).
CONFIGS: dict[str, Callable[[Callable[[Ctx], Coroutine[Any, Any, Result]]], Result]] = {
    "asyncio": _run_asyncio,
    "asyncio+pyqt6": lambda main: _run_asyncio_with("PyQt6", main),
    "asyncio+pyside6": lambda main: _run_asyncio_with("PySide6", main),
    "qtinter-owner-pyqt6": lambda main: _run_qtinter_owner("PyQt6", main),
    "qtinter-guest-pyqt6": lambda main: _run_qtinter_guest("PyQt6", main),
    "qtinter-owner-pyside6": lambda main: _run_qtinter_owner("PySide6", main),
    "qtinter-guest-pyside6": lambda main: _run_qtinter_guest("PySide6", main),
    "qasync-pyqt6": lambda main: _run_qasync("PyQt6", main),
    "qtasyncio-pyside6": _run_qtasyncio,
}

#: Configurations whose numbers are held to the targets (the others are for comparison).
QTINTER_CONFIGS = [name for name in CONFIGS if name.startswith("qtinter-")]
