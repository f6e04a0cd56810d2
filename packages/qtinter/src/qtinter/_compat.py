"""Everything qtinter takes from CPython's asyncio that is not public API, in one place.

qtinter's loops are asyncio loops: they subclass asyncio's loop classes and use their protected
attributes (``_ready``, ``_scheduled``, ``_stopping``, ``_selector``, ``_run_once`` ...) as asyncio's
own subclasses do. What they need beyond that (private functions of asyncio's modules, and the
set-up and clean-up that ``run_forever`` does around its iterations) is here, gated by what the
running Python provides, so that a new CPython release is checked against this module alone.
Supported: CPython 3.10 to 3.13.
"""

from __future__ import annotations

import sys
import threading
from asyncio import base_events, events, tasks
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Callable
    from types import CodeType

__all__ = [
    "CALLBACK_RUNNER_CODES",
    "HAS_EAGER_START",
    "HAS_RUN_FOREVER_SETUP",
    "ThreadSafeHandle",
    "enter_task",
    "get_running_loop",
    "leave_task",
    "run_forever_cleanup",
    "run_forever_setup",
]

#: ``asyncio.Task(..., eager_start=True)`` runs the first step at once and swaps the current task
#: itself (3.12+).
HAS_EAGER_START = sys.version_info >= (3, 12)

#: The loop thread's current task, as asyncio's tasks see it (C implementations where available).
enter_task: Callable[[Any, Any], None] = tasks._enter_task
leave_task: Callable[[Any, Any], None] = tasks._leave_task

#: The running loop of this thread or None (no exception): what ``asyncio.get_running_loop`` reads.
get_running_loop: Callable[[], AbstractEventLoop | None] = events._get_running_loop

#: The code of the asyncio functions that call a callback (``Handle._run``) or send into a task's
#: coroutine (the pure-Python task's step; the C task has no frame): a ``KeyboardInterrupt`` raised
#: below one of them reaches it intact, the task records it, and no step is lost.
_PY_TASK: Any = getattr(tasks, "_PyTask", None)  # asyncio's pure-Python Task class
CALLBACK_RUNNER_CODES: frozenset[CodeType] = frozenset(
    fn.__code__
    for fn in (
        events.Handle._run,
        getattr(_PY_TASK, "_Task__step", None),
        getattr(_PY_TASK, "_Task__step_run_and_handle_result", None),  # 3.12+
    )
    if fn is not None
)

#: Newer CPythons (3.12.8+, 3.13.1+) create this handle class in ``call_soon_threadsafe``; None before.
ThreadSafeHandle: Any = getattr(events, "_ThreadSafeHandle", None)

#: 3.13 split ``run_forever`` into ``_run_forever_setup()``, the iterations and
#: ``_run_forever_cleanup()``, for loops that let another event loop drive the iterations.
HAS_RUN_FOREVER_SETUP = hasattr(base_events.BaseEventLoop, "_run_forever_setup")


if HAS_RUN_FOREVER_SETUP:

    def run_forever_setup(loop: Any) -> Any:
        """Make ``loop`` the running loop of this thread, as ``run_forever`` does before iterating.

        Raises as ``run_forever`` would (closed, already running, another loop running). Returns
        what :func:`run_forever_cleanup` needs.
        """
        loop._run_forever_setup()  # subclasses' overrides included (the proactor starts reading here)

    def run_forever_cleanup(loop: Any, token: Any) -> None:
        """Undo :func:`run_forever_setup`, as ``run_forever`` does when it returns."""
        loop._run_forever_cleanup()

else:

    def run_forever_setup(loop: Any) -> Any:
        # The set-up of BaseEventLoop.run_forever in CPython 3.10-3.12 (identical in the three).
        loop._check_closed()
        loop._check_running()
        loop._set_coroutine_origin_tracking(loop._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        loop._thread_id = threading.get_ident()
        sys.set_asyncgen_hooks(
            firstiter=loop._asyncgen_firstiter_hook, finalizer=loop._asyncgen_finalizer_hook
        )
        events._set_running_loop(loop)
        return old_agen_hooks

    def run_forever_cleanup(loop: Any, token: Any) -> None:
        # Its clean-up (the finally block).
        loop._stopping = False
        loop._thread_id = None
        events._set_running_loop(None)
        loop._set_coroutine_origin_tracking(False)
        if token is not None:
            sys.set_asyncgen_hooks(*token)
