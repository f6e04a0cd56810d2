"""Holding Ctrl+C back while VapourSynth tears an environment down.

``Policy.unregister()`` and ``ManagedEnvironment.dispose()`` call into VapourSynth
(``destroy_environment``, ``unregister_policy``), which calls back into Python while it waits for
the frames still in flight. A ``KeyboardInterrupt`` raised inside one of those callbacks cannot
propagate through VapourSynth's C++ code: the process aborts with a VapourSynth fatal error. That is
what a second Ctrl+C during an application's shutdown used to do.

`sigint_deferred` replaces the SIGINT handler for the duration of the teardown with one that only
remembers the signals, and calls the previous handler for each of them once the teardown is over:
the interrupt then arrives, as a ``KeyboardInterrupt`` (or whatever the application's handler does),
right after it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["sigint_deferred"]

#: True while the main thread is inside `sigint_deferred` (nested sections change nothing).
_active = False


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Inside the block SIGINT is held back; the previous handler gets every one when the block ends.

    Only the main thread receives signals in Python, so elsewhere this does nothing; nor does it when
    SIGINT is ignored, has its default action or a handler that was not set from Python.
    """
    global _active
    if _active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    received: list[FrameType | None] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(frame)

    signal.signal(signal.SIGINT, remember)
    _active = True
    try:
        yield
    finally:
        _active = False
        signal.signal(signal.SIGINT, previous)
        for frame in received:
            previous(signal.SIGINT, frame)  # the default handler raises KeyboardInterrupt at the first
