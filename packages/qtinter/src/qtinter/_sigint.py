"""Ctrl+C while Qt's C++ loop holds the main thread.

Python runs a signal handler only when the interpreter executes bytecode, and Qt's loop restarts its
``poll()`` after ``EINTR``: without help, Ctrl+C on an idle Qt application does nothing until some
Python code happens to run, and a ``KeyboardInterrupt`` raised inside a slot makes PyQt abort the
process. While a qtinter loop drives Qt in the main thread, :class:`SigintGuard`

* points :func:`signal.set_wakeup_fd` at the loop's self-pipe, which the loop's I/O watcher already
  watches, so a signal wakes Qt and runs the loop's pump (Python) at once, and
* replaces Python's default SIGINT handler (only that one: handlers installed by ``asyncio.Runner``
  or the application are left alone) by one that only records the interrupt. The pump raises
  ``KeyboardInterrupt`` between two asyncio iterations, where it neither escapes into Qt nor
  corrupts asyncio's state (raised in the middle of ``_run_once`` it can drop a task's step, and the
  clean-up then waits for that task forever). A second Ctrl+C before the pump got to the first one
  (asyncio stuck in one long callback) raises at once, as Python's default handler does.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

__all__ = ["SigintGuard"]


class SigintGuard:
    """Installs and restores the wake-up descriptor and SIGINT handler for one loop (main thread only)."""

    def __init__(self, is_busy: Callable[[], bool], keep_wakeup_fd: Callable[[], bool]) -> None:
        self._is_busy = is_busy
        self._keep_wakeup_fd = keep_wakeup_fd
        #: Set by the handler when Ctrl+C arrived while no asyncio code ran; the pump raises it.
        self.pending = False
        self._installed_fd: int | None = None
        self._old_fd = -1
        self._handler_installed = False

    def install(self, wakeup_fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.pending = False
        self._old_fd = signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
        self._installed_fd = wakeup_fd
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._on_sigint)
            self._handler_installed = True

    @property
    def active(self) -> bool:
        return self._installed_fd is not None

    def reinstate(self) -> None:
        """Point the wake-up descriptor at the loop again (after asyncio cleared it)."""
        if self._installed_fd is not None:
            signal.set_wakeup_fd(self._installed_fd, warn_on_full_buffer=False)

    def restore(self) -> None:
        if self._installed_fd is None:
            return
        fd, self._installed_fd = self._installed_fd, None
        if self._handler_installed:
            self._handler_installed = False
            if signal.getsignal(signal.SIGINT) == self._on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)
        if self._keep_wakeup_fd():
            return  # asyncio's own add_signal_handler() needs the same descriptor
        current = signal.set_wakeup_fd(self._old_fd)
        if current != fd:  # somebody else took it over meanwhile: leave theirs in place
            signal.set_wakeup_fd(current)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.pending and self._is_busy():
            raise KeyboardInterrupt
        self.pending = True
