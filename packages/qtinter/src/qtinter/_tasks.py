"""Eager tasks: create a task and run its first step before returning (:func:`run_task`).

The first step runs synchronously, inside the new task. If another task is running at that moment (a
slot called from a coroutine, a signal emitted with a direct connection, ...), that task is suspended
for the duration of the step and resumed afterwards: the one form of task nesting qtinter allows, and
only through this module. :func:`eager_task` is the one place that does it; :func:`run_task`,
:meth:`QiBaseEventLoop.run_task` and :func:`asyncslot` all call it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, TypeVar

from . import _compat
from ._compat import get_running_loop as _get_running_loop

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Coroutine

__all__ = ["eager_task", "run_task", "run_task_on"]

_T = TypeVar("_T")

_Task: Any = asyncio.Task


def run_task(
    coro: Coroutine[Any, Any, _T],
    *,
    allow_task_nesting: bool = True,
    name: str | None = None,
    context: contextvars.Context | None = None,
) -> asyncio.Task[_T]:
    """Create a task for *coro* on the running loop and run it now, up to its first suspension.

    The rest of the coroutine is scheduled as usual; the task is returned. With *allow_task_nesting*
    (the default), a task that is running when this is called is suspended during that first step and
    resumed afterwards; without it, calling this from a running task is an error. *name* and
    *context* are those of :func:`asyncio.create_task` (*context* needs Python 3.11).

    This is :func:`asyncslot`'s default task runner. It works on any asyncio loop running in this
    thread, not only on qtinter's.

    :raises RuntimeError: no event loop is running in this thread, or a task is running and
        *allow_task_nesting* is false. *coro* is closed then, never started.
    """
    loop = _get_running_loop()
    if loop is None:
        coro.close()
        raise RuntimeError(
            "run_task() needs a running event loop in this thread: run the Qt application inside "
            "`with qtinter.using_asyncio_from_qt(): app.exec()`, or start asyncio with "
            "asyncio.run(main(), loop_factory=qtinter.new_event_loop)"
        )
    if not allow_task_nesting and asyncio.current_task(loop) is not None:
        coro.close()
        raise RuntimeError(
            "run_task(allow_task_nesting=False) was called from a running task; call it from a "
            "callback, or allow nesting"
        )
    return eager_task(loop, coro, name=name, context=context)


def run_task_on(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, _T],
    *,
    name: str | None = None,
    context: contextvars.Context | None = None,
) -> asyncio.Task[_T]:
    """:func:`eager_task` on *loop*, which must be running in this thread (``QiBaseEventLoop.run_task``).

    :raises RuntimeError: *loop* is not running, or runs in another thread (*coro* is closed).
    """
    if not loop.is_running():
        coro.close()
        raise RuntimeError(
            "run_task() needs a running qtinter event loop: run the application inside "
            "`with qtinter.using_asyncio_from_qt(): app.exec()`, or run the coroutine from "
            "asyncio.run(main(), loop_factory=qtinter.new_event_loop)"
        )
    if _get_running_loop() is not loop:
        coro.close()
        raise RuntimeError(
            "run_task() must be called in the event loop's thread; "
            "from other threads use asyncio.run_coroutine_threadsafe()"
        )
    return eager_task(loop, coro, name=name, context=context)


def eager_task(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, _T],
    *,
    name: str | None = None,
    context: contextvars.Context | None = None,
) -> asyncio.Task[_T]:
    """Create a task for *coro* on *loop* and run its first step now (see the module docstring).

    *loop* must be running in this thread (the caller checks).
    """
    try:
        factory = loop._task_factory  # type: ignore[attr-defined]  # (a slot's hot path: no call)
    except AttributeError:  # not built on asyncio's loop
        factory = loop.get_task_factory()
    if _compat.HAS_EAGER_START and factory is None:
        if name is None and context is None:
            task: asyncio.Task[_T] = _Task(coro, loop=loop, eager_start=True)
        else:
            task = _Task(coro, loop=loop, name=name, context=context, eager_start=True)
        return task
    # A task factory (it may make eager tasks itself), or Python < 3.12: create the task as usual
    # and run the step it scheduled at once, with the running task (if any) set aside meanwhile.
    ready = getattr(loop, "_ready", None)
    if ready is None:
        coro.close()
        raise RuntimeError(
            f"run_task() cannot run a task's first step at once on a {type(loop).__qualname__} with a "
            "task factory or before Python 3.12: it needs a loop built on asyncio's (such as qtinter's)"
        )
    options: dict[str, Any] = {"name": name}
    if context is not None:
        options["context"] = context  # 3.11+; Python 3.10 raises its own TypeError
    current = asyncio.current_task(loop)
    if current is not None:
        _compat.leave_task(loop, current)
    try:
        task = loop.create_task(coro, **options)
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            _run_scheduled_first_step(ready, task)
        return task
    finally:
        if current is not None:
            _compat.enter_task(loop, current)


def _run_scheduled_first_step(ready: Any, task: asyncio.Task[Any]) -> None:
    """Run the step ``task`` just scheduled with ``call_soon``, unless the factory already ran it.

    A task scheduled normally has put its first step at the end of the loop's ready queue. (An eager
    task factory has run the step already: the caller checks that the coroutine has not started.)
    """
    if not ready or task.done():
        return
    handle = ready[-1]
    if getattr(handle._callback, "__self__", None) is not task:
        return
    ready.pop()
    if not handle.cancelled():
        handle._run()
