"""Ctrl+C while Qt's C++ loop holds the main thread.

Python runs a signal handler only when the interpreter executes bytecode, and Qt's loop restarts its
``poll()`` after ``EINTR``: without help, Ctrl+C on an idle Qt application does nothing until some
Python code happens to run, and a ``KeyboardInterrupt`` raised inside a slot makes PyQt abort the
process. While a qtinter loop drives Qt in the main thread, :class:`SigintGuard`

* points :func:`signal.set_wakeup_fd` at the loop's self-pipe, which the loop's I/O watcher already
  watches, so a signal wakes Qt and runs the loop's pump (Python) at once, whatever handler the
  application or ``asyncio.Runner`` installed; and
* replaces Python's *default* SIGINT handler (only that one: handlers installed by
  ``asyncio.Runner`` or the application are left alone) by one that raises ``KeyboardInterrupt``
  where asyncio would see it, and only records it where raising would reach Qt:

  - owner mode (asyncio's own semantics): at once, in the callback or coroutine that is running,
    as Python's default handler does under a stock loop; while no asyncio code runs (Qt idles or
    runs its own code) the pump raises it before the next iteration;
  - guest mode: at once in the callback or coroutine that is running, as in owner mode, but only
    where it unwinds through that callback or coroutine into the task step or ``Handle._run`` that
    runs it; anywhere else (asyncio's own code, or code it calls, such as the stack capture of
    debug mode) it waits for the end of the iteration: a ``KeyboardInterrupt`` there can leave a
    task without a scheduled step, pending for good, and the clean-up of
    ``using_asyncio_from_qt()`` (which awaits the remaining tasks) would wait for it forever. A
    second Ctrl+C before the first was raised raises wherever asyncio code runs, as the default
    handler would.

  Either way it is never raised inside qtinter's own machinery, nor while a nested Qt event loop
  runs inside a callback (it would reach Qt): there the pump raises it after the iteration.

  A ``KeyboardInterrupt`` raised while a weakref callback or a ``__del__`` runs (the garbage of
  the running callback being freed) cannot propagate: Python hands it to :data:`sys.unraisablehook`
  and carries on. While the handler is installed the guard's own hook takes it back and the pump
  raises it after the iteration, so no Ctrl+C is lost.

The previous wake-up descriptor is restored when the loop stops driving Qt, unless asyncio's own
signal handlers still need the self-pipe; the loop's own descriptor is never taken for "previous"
(asyncio's ``add_signal_handler`` may have put it there), so nothing is ever left pointing at a
self-pipe that ``close()`` then closes. Restoring never raises: a previous descriptor that has been
closed meanwhile is dropped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from ._compat import CALLBACK_RUNNER_CODES
from ._modes import QiLoopMode

if TYPE_CHECKING:
    from types import FrameType

    from ._base_events import LoopState

__all__ = ["SigintGuard"]

#: Frames of qtinter's modules: a KeyboardInterrupt raised there would break the machinery.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Frames of asyncio's modules.
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__)) + os.sep


def _in_user_callback(frame: FrameType | None) -> bool:
    """Whether ``frame`` is code of a callback or coroutine that asyncio runs, outside its machinery."""
    below = False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_PACKAGE_DIR):
            return False
        if filename.startswith(_ASYNCIO_DIR):
            return below and frame.f_code in CALLBACK_RUNNER_CODES
        below = True
        frame = frame.f_back
    return False


def _set_wakeup_fd(fd: int) -> int | None:
    """``signal.set_wakeup_fd(fd)``; None (nothing changed) if ``fd`` is not usable."""
    try:
        return signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except (ValueError, OSError):  # closed meanwhile, or blocking: not a wake-up descriptor any more
        return None


class SigintGuard:
    """Installs and restores the wake-up descriptor and SIGINT handler for one loop (main thread only)."""

    def __init__(self) -> None:
        #: Set by the handler when Ctrl+C is recorded rather than raised; the pump raises it.
        self.pending = False
        #: The loop's state while installed (the handler reads its mode and whether asyncio runs).
        self._state: LoopState | None = None
        self._installed = False
        self._own_fd: int | None = None
        self._old_fd = -1
        self._handler_installed = False
        #: The hook ours replaced while the handler is installed (see :meth:`_on_unraisable`).
        self._old_unraisablehook = sys.unraisablehook

    def install(self, state: LoopState, wakeup_fd: int | None) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.pending = False
        self._state = state
        self._installed = True
        if wakeup_fd is not None:
            old = _set_wakeup_fd(wakeup_fd)
            if old is not None:
                self._own_fd = wakeup_fd
                # The loop's own descriptor was there already (asyncio's add_signal_handler): it is
                # not a previous owner's, and must not be restored as one.
                self._old_fd = -1 if old == wakeup_fd else old
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            try:
                signal.signal(signal.SIGINT, self._on_sigint)
            except (ValueError, OSError):  # not supported here (as asyncio.Runner tolerates)
                return
            self._handler_installed = True
            self._old_unraisablehook = sys.unraisablehook
            sys.unraisablehook = self._on_unraisable

    def take_pending(self) -> bool:
        """Whether a Ctrl+C was recorded (for the pump to raise), clearing the record."""
        pending, self.pending = self.pending, False
        return pending

    @property
    def active(self) -> bool:
        return self._own_fd is not None

    def reinstate(self) -> None:
        """Point the wake-up descriptor at the loop again (after asyncio cleared it)."""
        if self._own_fd is not None:
            _set_wakeup_fd(self._own_fd)

    def restore(self, *, keep_own_fd: bool) -> None:
        """Undo :meth:`install`. ``keep_own_fd``: asyncio's signal handlers still need the self-pipe."""
        if not self._installed:
            return
        self._installed = False
        self._state = None
        if self._handler_installed:
            self._handler_installed = False
            if signal.getsignal(signal.SIGINT) == self._on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            if sys.unraisablehook == self._on_unraisable:
                sys.unraisablehook = self._old_unraisablehook
        own, self._own_fd = self._own_fd, None
        old, self._old_fd = self._old_fd, -1
        if own is None or keep_own_fd:
            return
        current = _set_wakeup_fd(old)
        if current is None:  # the previous descriptor is gone: nobody's
            current = _set_wakeup_fd(-1)
        if current is not None and current != own:
            _set_wakeup_fd(current)  # somebody else took it over meanwhile: leave theirs in place

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        state = self._state
        if state is not None and state.pumping and not state.io_muted:
            if state.mode is QiLoopMode.OWNER or self.pending:
                allowed = frame is None or not frame.f_code.co_filename.startswith(_PACKAGE_DIR)
            else:
                allowed = _in_user_callback(frame)
            if allowed:
                self.pending = False
                raise KeyboardInterrupt
        self._record(state)

    def _record(self, state: LoopState | None) -> None:
        self.pending = True
        if state is not None:
            state.gate.would_block = True  # the pump raises it after the current iteration

    def _on_unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        # Only this guard's handler raises KeyboardInterrupt while it is installed.
        if self._handler_installed and isinstance(unraisable.exc_value, KeyboardInterrupt):
            self._record(self._state)  # raised where it could only be printed: the pump raises it
        else:
            self._old_unraisablehook(unraisable)
