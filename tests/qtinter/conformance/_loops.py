"""Which event loop ``test.test_asyncio`` gets, and a census proving it.

Three kinds of run (the ``--kind`` of the driver):

``stock``
    asyncio's own loops, untouched. The Qt binding is imported and a ``QCoreApplication`` exists,
    exactly as in the other two kinds, so that the only difference between runs is the loop.

``owner``
    Every loop the suite creates is a ``qtinter`` loop in ``QiLoopMode.OWNER``: ``run_forever()``
    runs a ``QEventLoop`` that drives the asyncio loop (the mode ``asyncio.run(main(),
    loop_factory=qtinter.new_event_loop)`` uses).

``guest``
    Every loop the suite creates is a ``qtinter`` loop in ``QiLoopMode.GUEST``. A guest loop does
    not run a Qt event loop of its own: something else runs one (in an application, ``app.exec()``
    inside ``qtinter.using_asyncio_from_qt()``). The suite calls ``run_forever()`` and
    ``run_until_complete()``, so the harness gives the guest loop a ``run_forever`` that does what
    such an application does: it starts the logical asyncio loop as a guest (``loop.start()``),
    then runs a physical ``QEventLoop`` (what ``QCoreApplication.exec()`` runs) until the logical
    loop has stopped, and then leaves the ``QEventLoop``. Every callback, timer and I/O event is
    therefore delivered by a Qt event loop that qtinter does not own.

Where the suite creates loops (3.12 and 3.13), and what replaces each:

- ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner()`` without a factory,
  ``unittest.IsolatedAsyncioTestCase`` and any ``DefaultEventLoopPolicy().new_event_loop()``: all
  go through ``_UnixDefaultEventLoopPolicy._loop_factory``, patched on the class so that policies
  the tests create afresh (``asyncio.set_event_loop_policy(None)``) use it too;
- direct constructions ``asyncio.SelectorEventLoop(...)`` (with or without a selector),
  ``asyncio.EventLoop()`` (3.13) and ``asyncio.unix_events._UnixSelectorEventLoop``: the names are
  rebound to the qtinter class (a subclass of the stock class, so ``isinstance`` checks hold);
- ``test.test_asyncio.utils.TestCase.new_test_loop()`` builds a ``TestLoop``, a loop with a
  virtual clock driven by a generator: it is rebuilt with the qtinter loop class under it
  (``class QiTestLoop(TestLoop, <qtinter loop>)``), so its scheduling runs on our loop and its
  clock stays virtual;
- child watchers (3.12): they attach to whatever loop is running (``add_signal_handler``,
  ``call_soon_threadsafe``), so they see our loops without a patch of their own.

Loops the census reports as not ours are the tests of asyncio's abstract base classes on mocks
(``BaseEventLoop()``, ``BaseSelectorEventLoop(mock_selector)``, subclasses of them defined in
the tests); they never run an event loop.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

# asyncio is imported only when a run is installed: _site/sitecustomize.py imports this module in
# every Python subprocess, most of which never use asyncio.
if TYPE_CHECKING:
    import asyncio

KINDS = ("stock", "owner", "guest")

_BINDINGS = {"pyqt5": "PyQt5", "pyqt6": "PyQt6", "pyside2": "PySide2", "pyside6": "PySide6"}

#: Keeps the application object alive for the whole process.
_app: Any = None


class LoopCensus:
    """Counts the event loops constructed, per class, since the last reset and in total."""

    def __init__(self, is_ours: Any) -> None:
        self._is_ours = is_ours
        self._lock = threading.Lock()
        self._since_reset: Counter[str] = Counter()
        self._total: Counter[str] = Counter()

    def record(self, loop: object) -> None:
        cls = type(loop)
        key = "qtinter" if self._is_ours(loop) else f"{cls.__module__}.{cls.__qualname__}"
        with self._lock:
            self._since_reset[key] += 1
            self._total[key] += 1

    def reset(self) -> None:
        with self._lock:
            self._since_reset.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._since_reset)

    def total(self) -> dict[str, int]:
        with self._lock:
            return dict(self._total)


def _qt_core() -> Any:
    """Import the binding QTINTERBINDING names (as qtinter would) and make the application."""
    global _app
    name = os.environ.get("QTINTERBINDING", "").lower()
    if name not in _BINDINGS:
        raise SystemExit(f"set QTINTERBINDING to one of {', '.join(_BINDINGS)} (got {name!r})")
    qt_core = importlib.import_module(f"{_BINDINGS[name]}.QtCore")
    _app = qt_core.QCoreApplication.instance() or qt_core.QCoreApplication([sys.argv[0]])
    return qt_core


def _count_constructions(census: LoopCensus) -> None:
    import asyncio.base_events

    original_init = asyncio.base_events.BaseEventLoop.__init__

    def __init__(self: asyncio.base_events.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        census.record(self)

    asyncio.base_events.BaseEventLoop.__init__ = __init__  # type: ignore[method-assign]


def install(kind: str, *, subprocess: bool = False) -> LoopCensus:
    """Prepare this process for a run of the given kind; returns the loop census.

    Python subprocesses that the tests start get the same loops through ``_site/sitecustomize.py``
    (this sets the environment for them).
    """
    qt_core = _qt_core()
    if kind == "stock":
        census = LoopCensus(lambda loop: False)
        _count_constructions(census)
        return census

    import qtinter

    census = LoopCensus(lambda loop: isinstance(loop, qtinter.QiBaseEventLoop))
    _count_constructions(census)
    loop_class = _loop_class(qtinter, qt_core, kind)
    _patch_creation_points(loop_class)
    if not subprocess:
        _patch_test_loop(loop_class)
        site = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_site")
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = site if not path else os.pathsep.join([site, path])
        os.environ["QTINTER_CONFORMANCE_KIND"] = kind
    return census


def install_when_asyncio_is_imported(kind: str) -> None:
    """In a subprocess: ``install(kind)`` right after asyncio is first imported (see ``_site``)."""
    if "asyncio.unix_events" in sys.modules:
        install(kind, subprocess=True)
        return

    import importlib.abc
    import importlib.util

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name != "asyncio":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            loader: Any = spec.loader
            exec_module = loader.exec_module

            def exec_then_install(module: Any) -> None:
                exec_module(module)
                install(kind, subprocess=True)

            loader.exec_module = exec_then_install
            return spec

    sys.meta_path.insert(0, Hook())


def _loop_class(qtinter: Any, qt_core: Any, kind: str) -> type[asyncio.AbstractEventLoop]:
    base: Any = qtinter.QiDefaultEventLoop

    if kind == "owner":

        class OwnerLoop(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.set_mode(qtinter.QiLoopMode.OWNER)

        return OwnerLoop

    class GuestLoop(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.set_mode(qtinter.QiLoopMode.GUEST)

        def run_forever(self) -> None:
            _run_guest(self, qt_core)

    return GuestLoop


def _run_guest(loop: Any, qt_core: Any) -> None:
    raise NotImplementedError("guest driver: waiting for the qtinter loop API")


def _patch_creation_points(loop_class: type[asyncio.AbstractEventLoop]) -> None:
    import asyncio

    unix_events: Any = asyncio.unix_events  # type: ignore[attr-defined]
    for module in (asyncio, unix_events):
        module.SelectorEventLoop = loop_class
        if hasattr(module, "EventLoop"):  # 3.13+
            module.EventLoop = loop_class
    unix_events._UnixSelectorEventLoop = loop_class
    unix_events._UnixDefaultEventLoopPolicy._loop_factory = loop_class


def _patch_test_loop(loop_class: type[asyncio.AbstractEventLoop]) -> None:
    from test.test_asyncio import utils

    stock = utils.TestLoop

    class QiTestLoop(stock, loop_class):  # type: ignore[misc, valid-type]
        """The suite's virtual-clock TestLoop, with the qtinter loop under it."""

    QiTestLoop.__name__ = QiTestLoop.__qualname__ = "TestLoop"
    utils.TestLoop = QiTestLoop
