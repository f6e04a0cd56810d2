"""Eager execution of a task's first step (``QiBaseEventLoop.run_task``).

``run_task`` creates a task and runs its first step synchronously, before returning. If another
task is running at that moment (a slot called from a coroutine, a signal emitted with a direct
connection, ...), that task is suspended for the duration of the step and resumed afterwards: the
one form of task nesting qtinter allows, and only through this function.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from ._base_events import QiBaseEventLoop

__all__ = ["run_task"]

_T = TypeVar("_T")

# asyncio.Task(..., eager_start=True) swaps the current task itself (3.12+).
_HAS_EAGER_START = sys.version_info >= (3, 12)


def run_task(
    loop: QiBaseEventLoop, coro: Coroutine[Any, Any, _T], *, name: str | None = None
) -> asyncio.Task[_T]:
    """Create a task for ``coro`` on ``loop`` and run its first step now (see the module docstring)."""
    if not loop.is_running():
        coro.close()
        raise RuntimeError(
            "run_task() needs a running qtinter event loop: run the application inside "
            "`with qtinter.using_asyncio_from_qt(): app.exec()`, or run the coroutine from "
            "asyncio.run(main(), loop_factory=qtinter.new_event_loop)"
        )
    if loop._thread_id != threading.get_ident():
        coro.close()
        raise RuntimeError(
            "run_task() must be called in the event loop's thread; "
            "from other threads use asyncio.run_coroutine_threadsafe()"
        )
    if _HAS_EAGER_START and loop.get_task_factory() is None:
        # The eager step suspends and restores a running task itself (it swaps the current task).
        return asyncio.Task(coro, loop=loop, name=name, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    current = asyncio.current_task(loop)
    if current is not None:
        asyncio.tasks._leave_task(loop, current)
    try:
        task = loop.create_task(coro, name=name)
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            _run_scheduled_first_step(loop, task)
        return task
    finally:
        if current is not None:
            asyncio.tasks._enter_task(loop, current)


def _run_scheduled_first_step(loop: QiBaseEventLoop, task: asyncio.Task[Any]) -> None:
    """Run the step ``task`` just scheduled with ``call_soon``, unless the factory already ran it.

    A task scheduled normally has put its first step at the end of the ready queue. (An eager task
    factory has run the step already: the caller checks that the coroutine has not started.)
    """
    ready = loop._ready
    if not ready or task.done():
        return
    handle = ready[-1]
    if getattr(handle._callback, "__self__", None) is not task:  # type: ignore[attr-defined]
        return
    ready.pop()
    if not handle.cancelled():
        handle._run()
