"""QtEventLoop: the EventLoop contract (the same tests the asyncio and trio adapters pass), on a real
qtinter loop in guest mode (Qt's loop runs, asyncio is its guest) and in owner mode; then what is
specific to Qt; then setup()."""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs

import qtinter
from vsengine.futures import UnifiedFuture
from vsengine.loops import NO_LOOP, Cancelled, EventLoop, get_loop, set_loop
from vsengine.policy import GlobalStore, Policy
from vsengine_qt import QtEventLoop, setup
from vsengine_qt._qt import QtCore, QtWidgets, exec_

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vsengine"))
from loop_contract import TIMEOUT, AsyncIOTools, AsyncTools, LoopContract, LoopRunner, in_thread
from vsqt_helpers import run

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine


class GuestRunner(LoopRunner):
    """Qt's loop runs (``app.exec()``) with asyncio as its guest: how a Qt application uses vsengine-qt."""

    supports_async = True
    runs_inline_on_loop_thread = True  # QtEventLoop.from_thread on the Qt thread runs at once

    def __init__(self, app: QtWidgets.QApplication) -> None:
        self.app = app

    def _run[T](self, start: Callable[[QtEventLoop], Future[T] | asyncio.Future[T]], timeout: float) -> T:
        box: list[Future[T] | asyncio.Future[T]] = []
        with qtinter.using_asyncio_from_qt() as loop:
            adapter = QtEventLoop(loop)
            set_loop(adapter)
            try:

                def begin() -> None:
                    future = start(adapter)
                    box.append(future)
                    future.add_done_callback(lambda _: adapter.from_thread(self.app.quit))

                loop.call_soon(begin)
                timer = QtCore.QTimer()
                timer.setSingleShot(True)
                timer.timeout.connect(self.app.quit)
                timer.start(int(timeout * 1000))
                exec_(self.app)
                timer.stop()
            finally:
                set_loop(NO_LOOP)
            if not box or not box[0].done():
                if box:
                    box[0].cancel()
                raise TimeoutError(f"the scenario did not finish within {timeout} s")
            return box[0].result()

    def run[T](self, scenario: Callable[[EventLoop], Future[T]], *, timeout: float = TIMEOUT) -> T:
        return self._run(scenario, timeout)

    def run_async[T](
        self, scenario: Callable[[EventLoop, AsyncTools], Coroutine[Any, Any, T]], *, timeout: float = TIMEOUT
    ) -> T:
        return self._run(lambda adapter: asyncio.ensure_future(scenario(adapter, AsyncIOTools())), timeout)


class OwnerRunner(LoopRunner):
    """asyncio.run(..., loop_factory=qtinter.new_event_loop): asyncio drives Qt's loop."""

    supports_async = True
    runs_inline_on_loop_thread = True

    def run[T](self, scenario: Callable[[EventLoop], Future[T]], *, timeout: float = TIMEOUT) -> T:
        async def main() -> T:
            adapter = QtEventLoop()
            set_loop(adapter)
            try:
                return await asyncio.wait_for(asyncio.wrap_future(scenario(adapter)), timeout)
            finally:
                set_loop(NO_LOOP)

        return asyncio.run(main(), loop_factory=qtinter.new_event_loop)

    def run_async[T](
        self, scenario: Callable[[EventLoop, AsyncTools], Coroutine[Any, Any, T]], *, timeout: float = TIMEOUT
    ) -> T:
        async def main() -> T:
            adapter = QtEventLoop()
            set_loop(adapter)
            try:
                return await asyncio.wait_for(scenario(adapter, AsyncIOTools()), timeout)
            finally:
                set_loop(NO_LOOP)

        return asyncio.run(main(), loop_factory=qtinter.new_event_loop)


class TestQtEventLoopGuestContract(LoopContract):
    @pytest.fixture
    def runner(self, qapp: QtWidgets.QApplication) -> LoopRunner:
        return GuestRunner(qapp)


class TestQtEventLoopOwnerContract(LoopContract):
    @pytest.fixture
    def runner(self, qapp: QtWidgets.QApplication) -> LoopRunner:
        return OwnerRunner()


# -- behaviour specific to QtEventLoop ---------------------------------------------------------------


def test_from_thread_on_the_qt_thread_runs_inline(qapp: QtWidgets.QApplication) -> None:
    async def main() -> tuple[bool, list[str]]:
        adapter = QtEventLoop()
        ran: list[str] = []
        future = adapter.from_thread(ran.append, "now")
        return future.done(), ran

    assert run(main()) == (True, ["now"])


def test_from_a_vapoursynth_thread_lands_on_the_qt_main_thread(
    qapp: QtWidgets.QApplication, policy: Policy
) -> None:
    """A frame callback (on VapourSynth's thread) hands work to the thread that runs Qt's loop."""
    with policy.new_environment() as env, env.use():
        clip = vs.core.std.BlankClip(length=4)

    async def main() -> list[bool]:
        adapter = QtEventLoop()
        qt_thread = QtCore.QThread.currentThread()
        results: list[Future[bool]] = []
        arrived = asyncio.Event()

        def on_frame(frame: vs.VideoFrame | None, error: BaseException | None) -> None:
            results.append(adapter.from_thread(lambda: QtCore.QThread.currentThread() == qt_thread))
            if len(results) == 4:
                adapter.loop.call_soon_threadsafe(arrived.set)

        for n in range(4):
            clip.get_frame_async(n, on_frame)
        await asyncio.wait_for(arrived.wait(), TIMEOUT)
        return [await adapter.await_future(f) for f in results]

    assert run(main()) == [True] * 4


def test_to_thread_uses_the_loops_default_executor(qapp: QtWidgets.QApplication) -> None:
    async def main() -> bool:
        adapter = QtEventLoop()
        used: list[str] = []

        class Recording(__import__("concurrent.futures").futures.ThreadPoolExecutor):
            def submit(self, *args: Any, **kwargs: Any) -> Any:
                used.append("submit")
                return super().submit(*args, **kwargs)

        executor = Recording(max_workers=1)
        asyncio.get_running_loop().set_default_executor(executor)
        assert await adapter.await_future(adapter.to_thread(lambda: 5)) == 5
        return used == ["submit"]

    assert run(main()) is True


def test_next_cycle_reports_the_cancellation_of_its_task(qapp: QtWidgets.QApplication) -> None:
    async def main() -> BaseException | None:
        adapter = QtEventLoop()
        task = asyncio.current_task()
        assert task is not None
        future = adapter.next_cycle()
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            task.uncancel()
        await asyncio.sleep(0)
        return future.exception(TIMEOUT)

    assert isinstance(run(main()), Cancelled)


def test_await_future_turns_cancelled_into_cancelled_error(qapp: QtWidgets.QApplication) -> None:
    async def main() -> str:
        adapter = QtEventLoop()
        failed: Future[None] = Future()
        failed.set_exception(Cancelled())
        try:
            await adapter.await_future(failed)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            return "cancelled error"
        return "nothing"

    assert run(main()) == "cancelled error"


def test_detach_loses_no_work_and_does_not_block(qapp: QtWidgets.QApplication) -> None:
    """Work handed over before set_loop() replaces the loop still runs; detaching from a worker while the
    Qt thread is busy returns at once."""

    async def main() -> tuple[list[int], bool]:
        adapter = QtEventLoop()
        set_loop(adapter)
        ran: list[int] = []
        futures = in_thread(lambda: [adapter.from_thread(ran.append, i) for i in range(100)]).result(TIMEOUT)
        detached = threading.Event()
        worker = threading.Thread(target=lambda: (set_loop(NO_LOOP), detached.set()))
        worker.start()
        # The Qt thread is blocked here: a detach that waited for it would deadlock.
        assert detached.wait(TIMEOUT)
        worker.join(TIMEOUT)
        assert not adapter.attached
        assert get_loop() is NO_LOOP
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
        return ran, all(f.done() for f in futures)

    assert run(main()) == (list(range(100)), True)


def test_work_for_a_closed_loop_fails_instead_of_vanishing(qapp: QtWidgets.QApplication) -> None:
    loop = qtinter.new_event_loop()
    adapter = QtEventLoop(loop)
    loop.close()
    future = in_thread(lambda: adapter.from_thread(lambda: "never")).result(TIMEOUT)
    with pytest.raises(RuntimeError, match="closed"):
        future.result(TIMEOUT)
    with pytest.raises(RuntimeError, match="closed"):
        in_thread(lambda: adapter.to_thread(lambda: "never")).result(TIMEOUT).result(TIMEOUT)
    assert isinstance(adapter.next_cycle().exception(TIMEOUT), Cancelled)


def test_attach_without_a_loop_explains_what_to_do() -> None:
    adapter = QtEventLoop()  # no asyncio loop runs here
    with pytest.raises(RuntimeError, match="using_asyncio_from_qt"):
        set_loop(adapter)
    assert get_loop() is NO_LOOP


# -- setup() ---------------------------------------------------------------------------------------------


def test_setup_runs_asyncio_vsengine_and_frames_inside_app_exec(qapp: QtWidgets.QApplication) -> None:
    outcome: list[object] = []
    with setup() as session:
        assert get_loop() is session.loop
        loop = session.asyncio_loop

        async def main() -> None:
            env = session.policy.new_environment()
            try:
                with env.use():
                    clip = vs.core.std.BlankClip(width=8, height=8, format=vs.GRAY8, color=[42], length=3)
                frame = await UnifiedFuture.from_future(clip.get_frame_async(1))
                outcome.append(frame[0][0, 0])
            finally:
                env.dispose()
                qapp.quit()

        loop.call_soon(lambda: outcome.append(loop.create_task(main())))
        QtCore.QTimer.singleShot(int(TIMEOUT * 1000), qapp.quit)
        exec_(qapp)
    assert outcome[1:] == [42]
    assert session.closed
    assert get_loop() is NO_LOOP
    # The policy is unregistered: another one can register now.
    with Policy(GlobalStore()):
        pass


def test_setup_inside_a_running_loop_uses_it(qapp: QtWidgets.QApplication) -> None:
    async def main() -> bool:
        with setup() as session:
            return session.asyncio_loop is asyncio.get_running_loop() and get_loop() is session.loop

    assert run(main()) is True
    assert get_loop() is NO_LOOP


def test_setup_as_a_function_and_close(qapp: QtWidgets.QApplication) -> None:
    session = setup()
    try:
        assert isinstance(get_loop(), QtEventLoop)
    finally:
        session.close()
        session.close()  # idempotent
    assert get_loop() is NO_LOOP
