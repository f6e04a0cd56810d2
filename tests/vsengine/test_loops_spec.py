"""The code examples of the event-loop contract document, run unchanged.

The examples below are verbatim copies of the contract's code blocks. The tests add only what a
reader supplies (the functions the examples call, a VapourSynth environment, a QApplication) and
check that the examples did their job.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import NO_LOOP, EventLoop, get_loop, set_loop
from vsengine.policy import Policy, ThreadLocalStore

WAIT = 10.0

QUICK_START = r"""
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import set_loop

# Attach asyncio event loop
set_loop(AsyncIOLoop())
"""


ASYNCIO_ADAPTER = r"""
import asyncio

from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import set_loop


async def main() -> None:
    set_loop(AsyncIOLoop())
    # Your async VapourSynth code here


asyncio.run(main())

"""


TRIO_ADAPTER = r"""
import trio

from vsengine.adapters.trio import TrioEventLoop
from vsengine.loops import set_loop


async def main() -> None:
    async with trio.open_nursery() as nursery:
        set_loop(TrioEventLoop(nursery))
        # Your async VapourSynth code here


trio.run(main)
"""


FROM_THREAD = r"""
from vsengine.loops import from_thread


def callback_from_vs_thread() -> None:
    # This runs on a VapourSynth worker thread
    future = from_thread(update_ui, frame_number=42)
    future.result()  # Wait for completion
"""


TO_THREAD = r"""
from vsengine.loops import to_thread


async def process() -> None:
    # Run blocking operation in thread pool
    future = to_thread(heavy_computation, data)
    result = future.result()
"""


KEEP_ENVIRONMENT = r"""
import vapoursynth as vs

from vsengine.loops import keep_environment


@keep_environment
def my_callback() -> vs.VideoNode:
    # VapourSynth environment is preserved here,
    # even if called from a different context
    return vs.core.std.BlankClip()

"""


GET_SET_LOOP = r"""
from vsengine.loops import get_loop, set_loop

current = get_loop()
set_loop(my_custom_loop)
"""


CUSTOM_QT_LOOP = r"""
from collections.abc import Callable
from concurrent.futures import Future

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication
from vsengine.loops import EventLoop


class QtEventLoop(QObject, EventLoop):
    _invoke = Signal(object)  # Signal carries the callable

    def __init__(self, app: QApplication) -> None:
        super().__init__()
        self.app = app
        self._invoke.connect(self._run_on_main)

    @Slot(object)
    def _run_on_main(self, task: Callable[[], None]) -> None:
        task()

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future = Future[R]()

        def wrapper() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(func(*args, **kwargs))
            except BaseException as e:
                future.set_exception(e)

        self._invoke.emit(wrapper)
        return future

    # Optionally override: to_thread, next_cycle, attach, detach
    # A more complete example can be found in the vsview/vspreview repositories.
"""


def run(code: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    namespace = {"__name__": "__spec_example__"} if namespace is None else namespace
    exec(compile(code, "<loops contract example>", "exec"), namespace)
    return namespace


def test_quick_start() -> None:
    run(QUICK_START)
    assert isinstance(get_loop(), AsyncIOLoop)


def test_asyncio_adapter() -> None:
    run(ASYNCIO_ADAPTER)
    assert isinstance(get_loop(), AsyncIOLoop)


def test_trio_adapter() -> None:
    run(TRIO_ADAPTER)
    assert type(get_loop()).__name__ == "TrioEventLoop"


def test_from_thread() -> None:
    calls: list[tuple[int, int]] = []
    namespace = run(
        FROM_THREAD, {"update_ui": lambda frame_number: calls.append((frame_number, threading.get_ident()))}
    )

    async def main() -> int:
        set_loop(AsyncIOLoop())
        await asyncio.to_thread(namespace["callback_from_vs_thread"])
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert calls == [(42, loop_thread)]


def test_to_thread() -> None:
    seen: list[tuple[object, int]] = []

    def heavy_computation(data: object) -> str:
        seen.append((data, threading.get_ident()))
        return "done"

    namespace = run(TO_THREAD, {"heavy_computation": heavy_computation, "data": "payload"})
    asyncio.run(namespace["process"]())
    assert len(seen) == 1
    assert seen[0][0] == "payload"
    assert seen[0][1] != threading.get_ident()


def test_keep_environment() -> None:
    with Policy(ThreadLocalStore()) as policy, policy.new_environment() as env:
        with env.use():
            namespace = run(KEEP_ENVIRONMENT)
        # Another thread has no current environment: only keep_environment makes this work.
        results: list[object] = []
        worker = threading.Thread(target=lambda: results.append(namespace["my_callback"]().num_frames))
        worker.start()
        worker.join(WAIT)
        assert results == [240]


def test_get_set_loop() -> None:
    custom = AsyncIOLoop()
    namespace = run(GET_SET_LOOP, {"my_custom_loop": custom})
    assert namespace["current"] is NO_LOOP
    assert get_loop() is custom


def test_custom_qt_event_loop() -> None:
    pytest.importorskip("PySide6.QtWidgets", exc_type=ImportError)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    namespace = run(CUSTOM_QT_LOOP)
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    loop = namespace["QtEventLoop"](app)
    assert isinstance(loop, EventLoop)
    set_loop(loop)
    try:
        results: list[object] = []
        worker = threading.Thread(target=lambda: results.append(loop.from_thread(threading.get_ident)))
        worker.start()
        worker.join(WAIT)
        future = results[0]
        deadline = threading.Event()
        timer = threading.Timer(WAIT, deadline.set)
        timer.start()
        while not future.done() and not deadline.is_set():  # type: ignore[attr-defined]
            app.processEvents()
        timer.cancel()
        assert future.result(0) == threading.get_ident()  # type: ignore[attr-defined]
    finally:
        set_loop(NO_LOOP)
