"""setup(): an application's asyncio loop, vsengine policy and event loop in one call."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
from typing import TYPE_CHECKING, Self

import qtinter
from vsengine.loops import EventLoop, get_loop, set_loop
from vsengine.policy import ContextVarStore, EnvironmentStore, Policy
from vsengine_qt._loop import QtEventLoop
from vsengine_qt._qt import QtCore

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Session", "setup"]


class Session:
    """What :func:`setup` set up; :meth:`close` (or leaving the ``with`` block) undoes it in reverse."""

    def __init__(self, stack: contextlib.ExitStack, policy: Policy, loop: QtEventLoop) -> None:
        self._stack = stack
        #: The registered vsengine policy: make environments with ``session.policy.new_environment()``.
        self.policy = policy
        #: The vsengine event loop (already active through ``vsengine.loops.set_loop``).
        self.loop = loop
        self._closed = False

    @property
    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop running inside Qt."""
        return self.loop.loop

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Restore the previous vsengine loop, unregister the policy and end qtinter's guest mode.

        Idempotent. A session that is still open when the interpreter exits is closed then.
        Environments still alive when the policy is unregistered become unusable: dispose them first.
        """
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vsengine_qt.Session {'closed' if self._closed else 'open'} loop={self.loop!r}>"


def _restore_loop(previous: EventLoop, ours: QtEventLoop) -> None:
    if get_loop() is ours:
        set_loop(previous)


def setup(store: EnvironmentStore | None = None, *, flags_creation: int = 0) -> Session:
    """Set up a Qt application for asyncio and VapourSynth; use it as a function or a context manager.

    Call it on the Qt main thread after creating the ``QApplication``. It

    1. starts qtinter's guest mode (an asyncio loop inside Qt's loop), unless an asyncio loop
       already runs on this thread (e.g. under ``asyncio.run(main(), loop_factory=qtinter.new_event_loop)``),
       which is then used;
    2. registers a :class:`vsengine.policy.Policy` with ``store`` (default: a ``ContextVarStore``,
       right for coroutines) and ``flags_creation``;
    3. makes a :class:`QtEventLoop` on that asyncio loop vsengine's active loop.

    ::

        app = QApplication([])
        with vsengine_qt.setup() as session:
            window = MyWindow(session.policy)
            window.show()
            app.exec()
    """
    if QtCore.QCoreApplication.instance() is None:
        raise RuntimeError("vsengine_qt.setup() needs a QApplication (or QCoreApplication): create it first")
    stack = contextlib.ExitStack()
    try:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = stack.enter_context(qtinter.using_asyncio_from_qt())
        policy = Policy(store if store is not None else ContextVarStore(), flags_creation)
        policy.register()
        stack.callback(policy.unregister)
        qt_loop = QtEventLoop(loop=loop)
        previous = get_loop()
        set_loop(qt_loop)
        stack.callback(_restore_loop, previous, qt_loop)
    except BaseException:
        stack.close()
        raise
    session = Session(stack, policy, qt_loop)
    # A session still open when the interpreter exits (a script that never closed it) is closed then,
    # before Qt is torn down: a policy left registered with frames in flight aborts the process.
    atexit.register(session.close)
    return session
