"""QiBaseEventLoop.run_task: eager first step, task nesting, task factories, errors."""

from __future__ import annotations

import asyncio
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
