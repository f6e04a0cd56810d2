"""QiBaseEventLoop.run_task and qtinter.run_task: eager first step, task nesting, task factories,
contexts, errors."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
from typing import Any

import pytest
from loop_support import MODES, run

import qtinter
from qtinter.bindings import QtCore


def qi_loop() -> qtinter.QiBaseEventLoop:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, qtinter.QiBaseEventLoop)
    return loop


async def first_step_then_sleep(log: list[Any], label: str = "step") -> str:
    log.append((label, asyncio.current_task()))
    await asyncio.sleep(0)
    log.append((f"{label} resumed", asyncio.current_task()))
    return f"{label} done"


@MODES
def test_first_step_runs_before_run_task_returns(mode: str) -> None:
    async def main() -> None:
        log: list[Any] = []
        task = qi_loop().run_task(first_step_then_sleep(log), name="eager one")
        assert log == [("step", task)]  # synchronously, inside its own task
        assert task.get_name() == "eager one"
        assert await task == "step done"
        assert log[-1] == ("step resumed", task)

    run(mode, main)


@MODES
def test_a_running_task_is_suspended_around_the_eager_step_and_resumed(mode: str) -> None:
    async def main() -> None:
        outer = asyncio.current_task()
        log: list[Any] = []
        inner = qi_loop().run_task(first_step_then_sleep(log))
        assert log == [("step", inner)]
        assert asyncio.current_task() is outer  # resumed
        await asyncio.sleep(0)  # the outer task still works as a task
        assert await inner == "step done"

    run(mode, main)


@MODES
def test_a_coroutine_that_finishes_in_its_first_step(mode: str) -> None:
    async def immediate() -> int:
        return 7

    async def failing() -> None:
        raise ValueError("boom")

    async def main() -> None:
        task = qi_loop().run_task(immediate())
        assert task.done()
        assert task.result() == 7
        bad = qi_loop().run_task(failing())
        assert bad.done()
        with pytest.raises(ValueError, match="boom"):
            bad.result()

    run(mode, main)


@MODES
def test_run_task_from_qt_code_outside_any_task(mode: str) -> None:
    # e.g. a slot invoked by Qt while the loop is logically blocked in select (interleaved code).
    async def main() -> list[Any]:
        loop = qi_loop()
        log: list[Any] = []
        holder: list[asyncio.Task[str]] = []
        QtCore.QTimer.singleShot(5, lambda: holder.append(loop.run_task(first_step_then_sleep(log))))
        while not holder:
            await asyncio.sleep(0.001)
        assert log[0] == ("step", holder[0])
        assert await holder[0] == "step done"
        return log

    assert len(run(mode, main)) == 2


@MODES
def test_run_task_with_a_custom_task_factory(mode: str) -> None:
    async def main() -> None:
        loop = qi_loop()
        made: list[asyncio.Task[Any]] = []

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            made.append(task)
            return task

        loop.set_task_factory(factory)
        log: list[Any] = []
        task = loop.run_task(first_step_then_sleep(log))
        assert made == [task]
        assert log == [("step", task)]
        assert await task == "step done"

    run(mode, main)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is new in 3.12")
@MODES
def test_run_task_with_eager_task_factory_runs_the_first_step_once(mode: str) -> None:
    async def main() -> None:
        loop = qi_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
        log: list[Any] = []
        task = loop.run_task(first_step_then_sleep(log))
        assert log == [("step", task)]  # not resumed early: sleep(0) must yield to the loop
        assert await task == "step done"
        assert log == [("step", task), ("step resumed", task)]

    run(mode, main)


def test_run_task_without_a_running_loop_names_the_fix() -> None:
    loop = qtinter.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="using_asyncio_from_qt"):
            loop.run_task(asyncio.sleep(0))
    finally:
        loop.close()


@MODES
def test_run_task_from_another_thread_is_an_error(mode: str) -> None:
    async def main() -> str:
        loop = qi_loop()

        def other_thread() -> str:
            try:
                loop.run_task(asyncio.sleep(0))
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        return await asyncio.to_thread(other_thread)

    assert "run_coroutine_threadsafe" in run(mode, main)


# ---------------------------------------------------------------------------------------------------
# qtinter.run_task: the module-level function (asyncslot's default task runner)


@MODES
def test_module_run_task_runs_the_first_step_before_returning(mode: str) -> None:
    async def main() -> None:
        log: list[Any] = []
        task = qtinter.run_task(first_step_then_sleep(log), name="eager")
        assert log == [("step", task)]
        assert task.get_name() == "eager"
        assert await task == "step done"

    run(mode, main)


@MODES
def test_module_run_task_nests_in_a_running_task_unless_told_not_to(mode: str) -> None:
    async def main() -> list[str]:
        outer = asyncio.current_task()
        log: list[Any] = []
        inner = qtinter.run_task(first_step_then_sleep(log))  # allow_task_nesting=True: the default
        assert log == [("step", inner)]
        assert asyncio.current_task() is outer
        await inner
        refused = first_step_then_sleep(log, "refused")
        with pytest.raises(RuntimeError, match=r"allow_task_nesting=False.*from a running task"):
            qtinter.run_task(refused, allow_task_nesting=False)
        assert inspect.getcoroutinestate(refused) == inspect.CORO_CLOSED  # closed, not leaked

        # From a callback (no task running) it is allowed either way.
        from_callback: asyncio.Future[asyncio.Task[str]] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(
            lambda: from_callback.set_result(
                qtinter.run_task(first_step_then_sleep(log, "callback"), allow_task_nesting=False)
            )
        )
        return [await (await from_callback), log[-1][0]]

    assert run(mode, main) == ["callback done", "callback resumed"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="create_task(context=) is new in Python 3.11")
@MODES
def test_module_run_task_runs_the_coroutine_in_the_given_context(mode: str) -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")

    async def read() -> list[str]:
        first = variable.get()
        await asyncio.sleep(0)
        return [first, variable.get()]

    async def main() -> list[str]:
        context = contextvars.copy_context()
        context.run(variable.set, "given")
        return await qtinter.run_task(read(), context=context)

    assert run(mode, main) == ["given", "given"]


def test_module_run_task_works_on_any_running_asyncio_loop() -> None:
    async def main() -> list[Any]:
        log: list[Any] = []
        task = qtinter.run_task(first_step_then_sleep(log))
        assert log == [("step", task)]
        return [await task]

    assert asyncio.run(main()) == ["step done"]


def test_module_run_task_without_a_running_loop_names_the_fix() -> None:
    coro = first_step_then_sleep([])
    with pytest.raises(RuntimeError, match=r"needs a running event loop.*using_asyncio_from_qt"):
        qtinter.run_task(coro)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
