"""The two context managers of the public qtinter API."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from typing import TYPE_CHECKING

from ._loops import new_event_loop
from ._modes import QiLoopMode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ._base_events import QiBaseEventLoop

__all__ = ["using_asyncio_from_qt", "using_qt_from_asyncio"]


@contextlib.contextmanager
def using_asyncio_from_qt(
    *, debug: bool | None = None, loop_factory: Callable[[], QiBaseEventLoop] | None = None
) -> Iterator[QiBaseEventLoop]:
    """Run an asyncio loop as a guest of Qt's loop for the duration of the ``with`` block.

    ::

        with qtinter.using_asyncio_from_qt():
            app.exec()

    On exit, once Qt's loop has returned, the loop is switched to native mode, remaining tasks are
    cancelled and awaited, async generators and the default executor are shut down, and the loop is
    closed. An exception that ended the loop while Qt ran it (``KeyboardInterrupt`` from Ctrl+C,
    ``SystemExit``) quits Qt's loop and is raised here, after the clean-up.

    ``loop_factory`` creates the loop (default: :func:`qtinter.new_event_loop`), e.g.
    ``qtinter.QiSelectorEventLoop`` to use a selector loop on Windows. Yields the loop.
    """
    loop = (loop_factory or new_event_loop)()
    try:
        if debug is not None:
            loop.set_debug(debug)
        loop.set_mode(QiLoopMode.GUEST)
        loop.start()
    except BaseException:
        loop.close()
        raise
    try:
        yield loop
    finally:
        loop._qi_stop_guest_now()
        pending = loop._qi_take_pending_exception()
        try:
            loop.set_mode(QiLoopMode.NATIVE)
            _shutdown(loop)
        finally:
            loop.close()
        if pending is not None:
            try:
                raise pending
            finally:
                pending = None


def _shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does after the main coroutine: cancel tasks, shut down generators and executor."""
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for task in tasks:
                if task.cancelled() or task.exception() is None:
                    continue
                loop.call_exception_handler(
                    {
                        "message": "unhandled exception during qtinter shutdown",
                        "exception": task.exception(),
                        "task": task,
                    }
                )
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())


@contextlib.contextmanager
def using_qt_from_asyncio() -> Iterator[None]:
    """Make ``asyncio.run()`` (and other policy users) create qtinter loops in owner mode.

    For code that cannot pass a loop factory. New code should prefer
    ``asyncio.run(main(), loop_factory=qtinter.new_event_loop)``: this context manager uses asyncio's
    event-loop policy API, deprecated since Python 3.14.
    """
    from ._policy import QiDefaultEventLoopPolicy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(QiDefaultEventLoopPolicy())
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(old)
