"""qtinter loops hosted by worker threads: a Python thread (owner mode) and a QThread (guest mode),
running at the same time as the main thread's loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from loop_support import MODES, run

import qtinter
from qtinter.bindings import QtCore


async def thread_work(label: str) -> dict[str, Any]:
    """Uses asyncio and Qt in the current thread; proves both run there."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, qtinter.QiBaseEventLoop)
    ticks = [0]
    timer = QtCore.QTimer()  # lives in this thread: fires only if this thread runs a Qt loop
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(1)
    try:
        while ticks[0] < 3:
            await asyncio.sleep(0.001)
    finally:
        timer.stop()
    value = await loop.run_in_executor(None, lambda: f"{label} executor")
    return {"thread": threading.get_ident(), "mode": loop.get_mode().name, "value": value}


def python_thread_owner_loop(results: list[Any], ready: threading.Event, release: threading.Event) -> None:
    async def main() -> dict[str, Any]:
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        return await thread_work("python thread")

    loop = qtinter.new_event_loop()
    try:
        results.append(loop.run_until_complete(main()))
        loop.run_until_complete(loop.shutdown_default_executor())
    except BaseException as exc:
        results.append(exc)
    finally:
        loop.close()


class GuestThread(QtCore.QThread):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[Any] = []

    def run(self) -> None:
        try:
            with qtinter.using_asyncio_from_qt() as loop:

                async def main() -> None:
                    try:
                        self.results.append(await thread_work("QThread"))
                    finally:
                        self.quit()  # ends this thread's exec()

                loop.call_soon(lambda: loop.create_task(main()))
                run_exec = getattr(self, "exec", None) or self.exec_
                run_exec()
        except BaseException as exc:
            self.results.append(exc)


@MODES
def test_worker_threads_host_their_own_loops_while_the_main_loop_runs(mode: str) -> None:
    async def main() -> list[dict[str, Any]]:
        results: list[Any] = []
        ready, release = threading.Event(), threading.Event()
        worker = threading.Thread(target=python_thread_owner_loop, args=(results, ready, release))
        worker.start()
        qthread = GuestThread()
        qthread.start()
        try:
            await asyncio.to_thread(ready.wait, 10)
            release.set()
            main_result = await thread_work("main")
            await asyncio.to_thread(worker.join, 20)
            finished = await asyncio.to_thread(qthread.wait, 20000)
            assert finished
        finally:
            release.set()
        for outcome in (*results, *qthread.results):
            if isinstance(outcome, BaseException):
                raise outcome
        return [main_result, *results, *qthread.results]

    main_result, python_thread, q_thread = run(mode, main)
    assert main_result["mode"] == mode.upper()
    assert python_thread["mode"] == "OWNER"
    assert python_thread["value"] == "python thread executor"
    assert q_thread["mode"] == "GUEST"
    assert q_thread["value"] == "QThread executor"
    assert len({main_result["thread"], python_thread["thread"], q_thread["thread"]}) == 3
