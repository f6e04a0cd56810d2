"""Which event loop ``test.test_asyncio`` gets, and a census proving it.

Three kinds of run (the ``--kind`` of the driver):

``stock``
    asyncio's own loops, untouched. The Qt binding is imported and a ``QCoreApplication`` exists,
    exactly as in the other two kinds, so that the only difference between runs is the loop.

``owner``
    asyncio's loop *classes* are replaced by qtinter's, in ``QiLoopMode.OWNER`` (the mode of
    ``asyncio.run(main(), loop_factory=qtinter.new_event_loop)``): ``run_forever()`` runs a
    ``QEventLoop`` that drives the loop's iterations.

``guest``
    The same classes, each with the application code a guest loop needs, in ``QiLoopMode.GUEST``.
    A guest loop does not run a Qt event loop of its own: something else runs one (in an
    application, ``app.exec()`` inside ``qtinter.using_asyncio_from_qt()``). The suite calls
    ``run_forever()`` and ``run_until_complete()``, so the harness gives guest loops a
    ``run_forever`` that does what such an application does: it starts the logical asyncio loop as
    a guest (``loop.start()``, the public guest entry point), then runs the physical Qt loop itself:
    ``app.exec()`` in the main thread, a ``QEventLoop`` in other threads; when the logical loop
    stops (``stop()``, the end of ``run_until_complete``) the physical loop is quit. Every callback,
    timer and I/O event is therefore delivered by a Qt event loop that qtinter does not own.

What is replaced, before the suite is imported (the way the public qtinter 0.11 runs the suite):
the names ``asyncio.BaseEventLoop`` / ``base_events.BaseEventLoop`` (by ``QiBaseEventLoop``),
``selector_events.BaseSelectorEventLoop`` (``QiBaseSelectorEventLoop``),
``proactor_events.BaseProactorEventLoop`` (``QiBaseProactorEventLoop``), ``SelectorEventLoop``,
``_UnixSelectorEventLoop`` and ``EventLoop`` (3.13) (``QiSelectorEventLoop``), and the default
policy classes (a policy that makes those loops). So every loop the suite makes is a qtinter loop:

- ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner()``,
  ``unittest.IsolatedAsyncioTestCase``, any ``DefaultEventLoopPolicy().new_event_loop()``, and
  direct constructions of ``asyncio.SelectorEventLoop(...)`` (with any selector);
- ``test.test_asyncio.utils.TestLoop`` (``TestCase.new_test_loop()``), which subclasses
  ``base_events.BaseEventLoop`` with a fake selector and a *virtual clock*: a qtinter base loop
  under a loop that overrides ``time()``, ``_run_once``, ``_process_events`` and ``_write_to_self``,
  as third-party test loops do;
- the suite's tests of the base classes on mocks (``BaseEventLoop()`` with a mock selector,
  ``BaseSelectorEventLoop(mock_selector)``, ``BaseProactorEventLoop(mock_proactor)``, their
  subclasses in the tests);
- Python subprocesses that tests start and that create a loop (``assert_python_ok("-c", ...)``
  for the debug flags, ``ProcessPoolExecutor`` workers) get the same replacement through
  ``_site/sitecustomize.py`` (``PYTHONPATH``), except those started with ``-E``/``-I``;
- child watchers (3.12) attach to whatever loop is running, which is ours.

The census counts every loop constructed (``asyncio``'s own ``BaseEventLoop.__init__``, which every
loop's constructor reaches), per test and per class: a qtinter run fails if any loop that is not a
qtinter loop was made.
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
    """Counts the event loops constructed: per class since the last reset (qtinter's loops under one
    key, ``qtinter``) and in total, and qtinter's loops per class in total."""

    def __init__(self, is_ours: Any) -> None:
        self._is_ours = is_ours
        self._lock = threading.Lock()
        self._since_reset: Counter[str] = Counter()
        self._total: Counter[str] = Counter()
        self._ours_by_class: Counter[str] = Counter()

    def record(self, loop: object) -> None:
        cls = type(loop)
        name = f"{cls.__module__}.{cls.__qualname__}"
        ours = self._is_ours(loop)
        key = "qtinter" if ours else name
        with self._lock:
            self._since_reset[key] += 1
            self._total[key] += 1
            if ours:
                self._ours_by_class[name] += 1

    def reset(self) -> None:
        with self._lock:
            self._since_reset.clear()

    def clear(self) -> None:
        """Forget everything counted so far (the loops of the self-check)."""
        with self._lock:
            self._since_reset.clear()
            self._total.clear()
            self._ours_by_class.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._since_reset)

    def total(self) -> dict[str, int]:
        with self._lock:
            return dict(self._total)

    def ours_by_class(self) -> dict[str, int]:
        with self._lock:
            return dict(self._ours_by_class)


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
    _count_constructions(census)  # on asyncio's own BaseEventLoop, before its name is replaced
    _replace_loop_classes(_loop_classes(qtinter, qt_core, kind))
    if not subprocess:
        site = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_site")
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = site if not path else os.pathsep.join([site, path])
        os.environ["QTINTER_CONFORMANCE_KIND"] = kind
    return census


def self_check(kind: str) -> None:
    """Fail loudly unless the suite's ways of making a loop give a qtinter loop of ``kind``.

    Also proves that the loop is hosted by a running Qt event loop: the coroutine waits for a
    ``QTimer``, which fires only while Qt's loop runs.
    """
    import asyncio

    import qtinter

    qt_core = _qt_core()
    mode = {"owner": qtinter.QiLoopMode.OWNER, "guest": qtinter.QiLoopMode.GUEST}[kind]

    async def wait_for_qt_timer() -> str:
        fired = asyncio.get_running_loop().create_future()
        timer = qt_core.QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: fired.set_result("qt"))
        timer.start(1)
        return await fired  # type: ignore[no-any-return]

    factories = {
        "asyncio.new_event_loop": asyncio.new_event_loop,
        "asyncio.SelectorEventLoop": asyncio.SelectorEventLoop,
        "DefaultEventLoopPolicy().new_event_loop": lambda: asyncio.DefaultEventLoopPolicy().new_event_loop(),
    }
    for name, factory in factories.items():
        loop = factory()
        try:
            if not isinstance(loop, qtinter.QiBaseEventLoop) or loop.get_mode() is not mode:
                raise SystemExit(f"conformance harness: {name}() made {loop!r}, not a qtinter {kind} loop")
            if loop.run_until_complete(wait_for_qt_timer()) != "qt":
                raise SystemExit(f"conformance harness: {name}(): Qt did not run the loop")
        finally:
            loop.close()
    if sys.version_info >= (3, 11):
        with asyncio.Runner() as runner:
            if not isinstance(runner.get_loop(), qtinter.QiBaseEventLoop):
                raise SystemExit("conformance harness: asyncio.Runner() made a loop that is not ours")
    # The suite's virtual-clock test loop is a qtinter loop too, driven by Qt.
    from test.test_asyncio import utils as test_utils

    test_loop = test_utils.TestLoop()
    try:
        if not isinstance(test_loop, qtinter.QiBaseEventLoop) or test_loop.get_mode() is not mode:
            raise SystemExit(f"conformance harness: TestLoop() made {test_loop!r}, not a qtinter {kind} loop")
        if test_loop.run_until_complete(wait_for_qt_timer()) != "qt":
            raise SystemExit("conformance harness: TestLoop(): Qt did not run the loop")
    finally:
        test_loop.close()


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


def _loop_classes(qtinter: Any, qt_core: Any, kind: str) -> dict[str, type[Any]]:
    """The classes that replace asyncio's, by role: ``base``, ``selector_base``, ``proactor_base``,
    ``selector`` (the default loop) and ``policy``."""
    from qtinter._policy import QiSelectorEventLoopPolicy

    classes: dict[str, type[Any]] = {
        "base": qtinter.QiBaseEventLoop,
        "selector_base": qtinter.QiBaseSelectorEventLoop,
        "proactor_base": qtinter.QiBaseProactorEventLoop,
        "selector": qtinter.QiSelectorEventLoop,
    }
    if kind == "guest":
        # The same hierarchy, each class with the application code of guest mode, so that the
        # suite's isinstance() checks between them hold as they do for asyncio's classes.
        base = _subclass(_guest_mixin(qtinter, qt_core), classes["base"])
        selector_base = _subclass(classes["selector_base"], base)
        classes = {
            "base": base,
            "selector_base": selector_base,
            "proactor_base": _subclass(classes["proactor_base"], base),
            "selector": _subclass(classes["selector"], selector_base),
        }

    class Policy(QiSelectorEventLoopPolicy):  # type: ignore[misc, valid-type]
        """Makes the run's default loops (asyncio's policy otherwise: child watchers and all)."""

        _loop_factory = classes["selector"]

    classes["policy"] = Policy
    return classes


def _subclass(first: type[Any], second: type[Any]) -> type[Any]:
    # Named as the qtinter class it extends: the suite's reprs and messages stay those of the kind.
    name = (first if first.__module__.startswith("qtinter") else second).__name__
    return type(name, (first, second), {"__module__": __name__})


def _guest_mixin(qtinter: Any, qt_core: Any) -> type[Any]:
    class GuestApplication:
        """A qtinter loop in guest mode, plus the application code that hosts it.

        ``run_forever()`` does what an application using ``qtinter.using_asyncio_from_qt()``
        does: ``loop.start()`` (the public guest-mode entry), then the physical Qt event loop:
        ``QCoreApplication.exec()`` in the main thread, a ``QEventLoop`` in other threads. When the
        logical loop stops (``stop()``, the end of ``run_until_complete``), the physical loop is
        left. An exception that ended the guest loop (``KeyboardInterrupt``, ``SystemExit`` from a
        callback) is re-raised from ``run_forever()``, as asyncio's own loop would raise it.
        """

        _harness_qloop: Any = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[call-arg]
            self.set_mode(qtinter.QiLoopMode.GUEST)  # type: ignore[attr-defined]

        def run_forever(self: Any) -> None:
            self.start()  # raises as run_forever would: closed, already running, no application
            app = qt_core.QCoreApplication.instance()
            in_main = app.thread() is qt_core.QThread.currentThread()
            physical = app if in_main else qt_core.QEventLoop()
            self._harness_qloop = physical
            try:
                (getattr(physical, "exec", None) or physical.exec_)()
            finally:
                self._harness_qloop = None
                ended_from_outside = self.is_running()
                if ended_from_outside:
                    self._qi_stop_guest_now()
            pending = self._qi_take_pending_exception()
            if pending is not None:
                try:
                    raise pending
                finally:
                    pending = None
            if ended_from_outside:
                raise RuntimeError("conformance harness: Qt's event loop ended before the guest loop stopped")

        def _qi_guest_stopped(self: Any) -> None:
            # The one qtinter internal the harness uses: the hook guest mode calls when the logical
            # loop has stopped. The application's equivalent is quitting Qt's loop when done.
            super()._qi_guest_stopped()  # type: ignore[misc]
            physical = self._harness_qloop
            if physical is not None:
                physical.exit(0)

    return GuestApplication


def _replace_loop_classes(classes: dict[str, type[Any]]) -> None:
    """Rebind asyncio's loop class names (and the policy's factory) to the run's classes."""
    import asyncio

    base_events: Any = asyncio.base_events
    selector_events: Any = asyncio.selector_events
    proactor_events: Any = asyncio.proactor_events
    asyncio.BaseEventLoop = base_events.BaseEventLoop = classes["base"]  # type: ignore[misc]
    selector_events.BaseSelectorEventLoop = classes["selector_base"]
    proactor_events.BaseProactorEventLoop = classes["proactor_base"]
    unix_events: Any = asyncio.unix_events  # type: ignore[attr-defined]
    for module in (asyncio, unix_events):
        module.SelectorEventLoop = classes["selector"]
        module.DefaultEventLoopPolicy = classes["policy"]
        if hasattr(module, "EventLoop"):  # 3.13+
            module.EventLoop = classes["selector"]
    unix_events._UnixSelectorEventLoop = classes["selector"]
    # Policies made from the stock class object (kept by reference somewhere) make ours too.
    stock_policy = unix_events._UnixDefaultEventLoopPolicy
    stock_policy._loop_factory = classes["selector"]
    unix_events._UnixDefaultEventLoopPolicy = classes["policy"]
