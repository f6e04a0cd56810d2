"""Run a GUI example program unchanged and play its user: ``python spec_harness.py PROGRAM DRIVER``.

The program runs as ``__main__`` (``runpy``) and imports its Qt binding itself, in its own order:
this harness imports no binding and not qtinter. When the program first shows a window, the
harness starts a Qt timer that calls the *driver* (one of :data:`DRIVERS`) until it reports that
it is done. The driver does what a user
would (clicks, picks a colour, closes the window) and prints what it saw; the program's own output
follows. A driver never sleeps: it polls the widgets' state from Qt's loop and acts when the state
it waits for is there.
"""

from __future__ import annotations

import builtins
import runpy
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: A driver is a generator: it yields while what it waits for is not there yet, and returns when done.
Driver = Callable[[Any, Any], Iterator[None]]


def _top_levels(qtwidgets: Any, cls: Any) -> list[Any]:
    app = qtwidgets.QApplication.instance()
    return [w for w in app.topLevelWidgets() if isinstance(w, cls) and w.isVisible()]


def click_the_sleep_button(qtwidgets: Any, qtgui: Any) -> Iterator[None]:
    """The quick start's first example: click the button, watch it go grey and come back, close it."""
    while not _top_levels(qtwidgets, qtwidgets.QPushButton):
        yield
    (button,) = _top_levels(qtwidgets, qtwidgets.QPushButton)
    print(f"enabled before the click: {button.isEnabled()}")
    button.click()
    print(f"enabled right after the click: {button.isEnabled()}")
    while not button.isEnabled():
        yield
    print(f"enabled after the sleep: {button.isEnabled()}")
    button.close()  # the last window: app.exec() returns


def pick_a_colour(qtwidgets: Any, qtgui: Any) -> Iterator[None]:
    """The quick start's second example: choose teal in the colour dialog and press OK."""
    while not _top_levels(qtwidgets, qtwidgets.QColorDialog):
        yield
    (dialog,) = _top_levels(qtwidgets, qtwidgets.QColorDialog)
    dialog.setCurrentColor(qtgui.QColor("#008080"))
    dialog.accept()


DRIVERS: dict[str, Driver] = {"sleep": click_the_sleep_button, "color": pick_a_colour}


#: The driving timer, while it runs (a QTimer without a parent must be kept alive by someone).
_timers: list[Any] = []


def _install(driver: Driver) -> None:
    """Start *driver* when the program first shows a window (the application exists by then).

    The hook is ``QWidget.show``, patched on the binding's class when the program imports
    ``QtWidgets`` and restored at its first call. (Swapping in a ``QApplication`` subclass instead
    made PySide2 crash at exit under ``PYTHONDEVMODE``: any subclass of it does.)
    """
    real_import = builtins.__import__

    def patch(qtwidgets: Any) -> None:
        builtins.__import__ = real_import
        package = qtwidgets.__name__.rpartition(".")[0]
        qtcore = sys.modules[f"{package}.QtCore"]
        qtgui = sys.modules[f"{package}.QtGui"]
        real_show = qtwidgets.QWidget.show

        def first_show(widget: Any) -> None:
            qtwidgets.QWidget.show = real_show
            real_show(widget)
            steps = driver(qtwidgets, qtgui)
            timer = qtcore.QTimer()
            _timers.append(timer)

            def step() -> None:
                try:
                    next(steps)
                except StopIteration:
                    timer.stop()
                    _timers.clear()

            timer.timeout.connect(step)
            timer.start(10)

        qtwidgets.QWidget.show = first_show

    def watching_import(name: str, *args: Any, **kwargs: Any) -> Any:
        module = real_import(name, *args, **kwargs)
        for candidate in ("PyQt5", "PyQt6", "PySide2", "PySide6"):
            qtwidgets = sys.modules.get(f"{candidate}.QtWidgets")
            if qtwidgets is not None:
                patch(qtwidgets)
                break
        return module

    builtins.__import__ = watching_import


def main() -> None:
    program, driver = sys.argv[1:3]
    _install(DRIVERS[driver])
    sys.argv = [program]
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
