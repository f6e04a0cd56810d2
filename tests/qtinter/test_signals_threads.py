"""Signals of objects living in a worker QThread, emitted from other threads.

PyQt calls a plain-function slot in the thread that connected it; PySide calls it in the thread of
the signal's sender. Either way slots, awaited signals and streams must end up on the loop's thread
(asyncio's debug mode, on in the test sessions, rejects loop calls from other threads).
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from interop_support import MODES, run
from pytestqt.qt_compat import qt_api

import qtinter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

QtCore = qt_api.QtCore

pytestmark = pytest.mark.usefixtures("qapp")


class Worker(QtCore.QObject):  # type: ignore[misc]
    one = qt_api.Signal(int)


@asynccontextmanager
async def worker_in_thread() -> AsyncIterator[Any]:
    thread = QtCore.QThread()
    worker = Worker()
    worker.moveToThread(thread)
    thread.start()
    try:
        yield worker
    finally:
        thread.quit()
        thread.wait(10_000)


def emit_from_python_thread(signal: Any, value: int) -> None:
    emitter = threading.Thread(target=signal.emit, args=(value,))
    emitter.start()
    emitter.join(10)


def loop_thread_checker() -> Callable[[], bool]:
    thread = threading.get_ident()
    return lambda: threading.get_ident() == thread


@MODES
def test_slot_of_a_worker_signal_runs_on_the_loop_thread(mode: str) -> None:
    async def main() -> list[Any]:
        on_loop_thread = loop_thread_checker()
        got: list[Any] = []
        done = asyncio.get_running_loop().create_future()

        async def slot(value: int) -> None:
            got.append((value, on_loop_thread()))
            await asyncio.sleep(0)
            done.set_result(None)

        async with worker_in_thread() as worker:
            worker.one.connect(qtinter.asyncslot(slot))
            emit_from_python_thread(worker.one, 5)
            await asyncio.wait_for(done, 10)
        return got

    assert run(mode, main) == [(5, True)]


@MODES
def test_awaiting_and_streaming_a_worker_signal(mode: str) -> None:
    async def main() -> list[Any]:
        async with worker_in_thread() as worker:
            waiting = asyncio.ensure_future(qtinter.asyncsignal(worker.one))
            await asyncio.sleep(0)
            emit_from_python_thread(worker.one, 1)
            first = await asyncio.wait_for(waiting, 10)

            stream = qtinter.asyncsignalstream(worker.one)
            for value in (2, 3):
                emit_from_python_thread(worker.one, value)
            rest = [await asyncio.wait_for(stream.__anext__(), 10) for _ in range(2)]
            await stream.aclose()
        return [first, *rest]

    assert run(mode, main) == [1, 2, 3]


@MODES
def test_sender_destroyed_in_its_worker_thread(mode: str) -> None:
    async def main() -> None:
        async with worker_in_thread() as worker:
            waiting = asyncio.ensure_future(qtinter.asyncsignal(worker.one))
            await asyncio.sleep(0)
            worker.deleteLater()  # runs in the worker's thread, which destroys it
            del worker
            with pytest.raises(qtinter.SenderDestroyedError):
                await asyncio.wait_for(waiting, 10)

    run(mode, main)
