"""``modal``: run a function that starts a nested Qt event loop without blocking asyncio.

``QDialog.exec()``, ``QMessageBox.question()`` or ``QFileDialog.getOpenFileName()`` run a nested Qt
event loop until the dialog closes. Called from a coroutine, they would run inside the asyncio
iteration that is executing that coroutine, and asyncio could not start another iteration until they
return: every other task and timer would stop while the dialog is open.

:func:`modal` avoids that: the coroutine only awaits a future, and the function is called from Qt's
loop once no asyncio iteration is running: by :meth:`QiBaseEventLoop.exec_modal` right after the
current iteration when called from a task or callback, or from a zero-delay Qt timer when called
outside any iteration (the eager first step of an :func:`asyncslot` run by a Qt signal, where the
public qtinter fails with its issue #18 and qasync with "Cannot enter into task"). The dialog's
nested Qt loop then keeps driving asyncio, exactly as the application's main loop does.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ._bindings import QtCore
from ._modes import QiLoopMode

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["modal"]

P = ParamSpec("P")
T = TypeVar("T")


def _call_between_iterations(loop: asyncio.AbstractEventLoop, call: Callable[[], None]) -> None:
    """Call *call* from Qt's loop once no asyncio iteration is running."""
    if getattr(loop, "get_mode", lambda: None)() is QiLoopMode.NATIVE:
        raise RuntimeError(
            "modal() needs the qtinter loop in owner or guest mode: Qt does not run in native mode"
        )
    try:
        # Inside an iteration (a task or callback): the loop calls it right after the iteration.
        loop.exec_modal(call)  # type: ignore[attr-defined]
    except RuntimeError:
        # Not inside an iteration, e.g. the eager first step of an asyncslot called by a Qt signal:
        # a zero-delay Qt timer calls it as soon as the code that emitted the signal returns to Qt.
        timer = QtCore.QTimer()
        timer.setSingleShot(True)

        def fire() -> None:
            _pending_timers.discard(timer)
            call()

        timer.timeout.connect(fire)
        _pending_timers.add(timer)
        timer.start(0)


#: Qt timers waiting to fire (a QTimer without a parent must be kept alive by someone).
_pending_timers: set[Any] = set()


def modal(fn: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Return a coroutine function that calls *fn* without blocking the asyncio loop.

    Awaiting ``modal(fn)(*args, **kwargs)`` calls ``fn(*args, **kwargs)`` from the Qt event loop as
    soon as the current asyncio iteration has finished, and returns its result (or raises its
    exception). While *fn* runs its nested Qt loop, other tasks, callbacks and timers keep running.

    Cancelling the await before *fn* started means *fn* is never called; cancelling it while *fn* runs
    does not close the dialog: its result is then discarded.

    :raises TypeError: *fn* is not callable, or is a coroutine function (await it directly instead).
    """
    if not callable(fn):
        raise TypeError(f"modal() needs a callable, got {fn!r}")
    if inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"modal() runs a blocking function such as QDialog.exec; {fn!r} is a coroutine function, "
            "await it directly"
        )

    @functools.wraps(fn)
    async def run_modal(*args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        if getattr(loop, "run_task", None) is None:
            raise RuntimeError(
                f"modal() needs a qtinter event loop, but the running loop is a {type(loop).__qualname__}; "
                "use asyncio.run(main(), loop_factory=qtinter.new_event_loop) or "
                "qtinter.using_asyncio_from_qt()"
            )
        future: asyncio.Future[T] = loop.create_future()

        def call() -> None:
            if future.done():  # cancelled before the dialog could open
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

        _call_between_iterations(loop, call)
        return await future

    return run_modal
