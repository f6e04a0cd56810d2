"""QtEventLoop: the EventLoop contract (the same tests the asyncio and trio adapters pass), on a real
qtinter loop in guest mode (Qt's loop runs, asyncio is its guest) and in owner mode; then what is
specific to Qt; then setup()."""

from __future__ import annotations

import asyncio
import subprocess
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
from vsqt_helpers import exec_app, run

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
            adapter = QtEventLoop(loop=loop)
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
        await asyncio.wait([asyncio.wrap_future(future)], timeout=TIMEOUT)
        return future.exception(0)

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
        exec_app(qapp, TIMEOUT)
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


# -- adopting it in an application (issue 14) ------------------------------------------------------------


def test_it_is_a_qobject_with_a_parent_and_a_thread(qapp: QtWidgets.QApplication) -> None:
    parent = QtCore.QObject()
    adapter = QtEventLoop(parent)
    assert isinstance(adapter, QtCore.QObject)
    assert adapter.parent() is parent
    assert adapter.thread() is qapp.thread()


def test_bad_arguments_name_the_fix() -> None:
    with pytest.raises(TypeError, match="parent must be a QObject or None, got int"):
        QtEventLoop(42)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match=r"pass an asyncio loop as QtEventLoop\(loop=...\)"):
            QtEventLoop(loop)  # type: ignore[arg-type]
    finally:
        loop.close()
    with pytest.raises(ValueError, match=r"max_workers=...\): must be at least 1"):
        QtEventLoop(max_workers=0)


def test_adopted_before_app_exec_it_starts_owns_and_ends_guest_mode(qapp: QtWidgets.QApplication) -> None:
    """One line before app.exec(), no asyncio loop anywhere: coroutines run; quitting ends the guest loop."""
    assert asyncio._get_running_loop() is None
    adapter = QtEventLoop(qapp)
    set_loop(adapter)
    try:
        assert adapter.owns_loop
        asyncio_loop = adapter.loop
        results: list[object] = []

        async def job() -> int:
            await asyncio.sleep(0)
            return threading.get_ident()

        def done(outcome: object) -> None:
            results.append(outcome)
            adapter.from_thread(qapp.quit)  # quit once the coroutine is done: a quit before cancels it

        def start() -> None:
            adapter.run_in_loop(job).then(done, done)

        QtCore.QTimer.singleShot(0, start)
        exec_(qapp)  # quitting ends the owned guest loop
        assert results == [threading.get_ident()]
        assert not adapter.owns_loop
        assert asyncio_loop.is_closed()
        assert asyncio._get_running_loop() is None
    finally:
        set_loop(NO_LOOP)


def test_detach_ends_the_guest_mode_it_started(qapp: QtWidgets.QApplication) -> None:
    adapter = QtEventLoop()
    set_loop(adapter)
    asyncio_loop = adapter.loop
    assert asyncio._get_running_loop() is asyncio_loop
    set_loop(NO_LOOP)
    assert asyncio_loop.is_closed()
    assert asyncio._get_running_loop() is None


def test_attach_without_an_application_explains_what_to_do() -> None:
    code = (
        f"import {qtinter.bindings.__binding__}.QtCore\n"
        "from vsengine.loops import set_loop, get_loop, NO_LOOP\n"
        "from vsengine_qt import QtEventLoop\n"
        "try:\n    set_loop(QtEventLoop())\nexcept RuntimeError as e:\n    print(e)\n"
        "print(get_loop() is NO_LOOP)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "QtEventLoop needs a QApplication (or QCoreApplication)" in result.stdout, result.stderr
    assert result.stdout.splitlines()[-1] == "True"


def test_futures_are_unified_futures(qapp: QtWidgets.QApplication) -> None:
    async def main() -> list[object]:
        adapter = QtEventLoop()
        chained = [
            adapter.from_thread(lambda: 2).map(lambda x: x * 10),
            adapter.to_thread(lambda: 3).then(lambda x: x + 1, None),
            adapter.to_thread(lambda: {}["missing"]).catch(lambda exc: type(exc).__name__),
            adapter.next_cycle().map(lambda _: "cycled"),
        ]
        return [await adapter.await_future(f) for f in chained]

    assert run(main()) == [20, 4, "KeyError", "cycled"]


def test_a_native_cancellation_in_from_thread_becomes_cancelled(qapp: QtWidgets.QApplication) -> None:
    """Issue 13 item 8: loop-neutral code sees vsengine's Cancelled, not asyncio.CancelledError."""

    def cancelled() -> None:
        raise asyncio.CancelledError

    async def main() -> list[object]:
        adapter = QtEventLoop()
        inline = adapter.from_thread(cancelled).exception(0)
        handed_over = await asyncio.wrap_future(
            in_thread(lambda: adapter.from_thread(cancelled).exception(TIMEOUT))
        )
        return [inline, handed_over]

    assert [type(e) for e in run(main())] == [Cancelled, Cancelled]


def test_workers_are_named_counted_and_waited_for_with_the_gui_alive(qapp: QtWidgets.QApplication) -> None:
    async def main() -> tuple[list[str], int, int, bool, list[str], int]:
        adapter = QtEventLoop()
        release = threading.Event()
        names: list[str] = []
        owner = object()

        def work() -> str:
            names.append(threading.current_thread().name)
            release.wait(TIMEOUT)
            # Needs the GUI thread while the GUI thread waits for this worker: must not deadlock.
            return adapter.from_thread(lambda: "from the GUI").result(TIMEOUT)

        futures = [
            adapter.to_thread_scoped(owner, "Decode", work),
            adapter.to_thread_named("Index", work),
        ]
        while len(names) < 2:
            await asyncio.sleep(0.001)
        counts = (adapter.active_workers(), adapter.active_workers(owner=owner))
        release.set()
        drained = adapter.wait_for_workers(TIMEOUT)  # a nested Qt loop: from_thread calls still run
        return names, *counts, drained, [f.result(0) for f in futures], adapter.active_workers()

    names, active, owned, drained, results, after = run(main())
    assert sorted(names) == ["Decode", "Index"]
    assert (active, owned) == (2, 1)
    assert drained
    assert results == ["from the GUI", "from the GUI"]
    assert after == 0


def test_wait_for_workers_gives_up_after_its_timeout(qapp: QtWidgets.QApplication) -> None:
    async def main() -> tuple[bool, bool]:
        adapter = QtEventLoop()
        release = threading.Event()
        future = adapter.to_thread(release.wait, TIMEOUT)
        gave_up = adapter.wait_for_workers(0.01)
        release.set()
        return gave_up, await adapter.await_future(future)

    assert run(main()) == (False, True)


def test_cancel_makes_next_cycle_fail_until_reset(qapp: QtWidgets.QApplication) -> None:
    async def main() -> list[object]:
        adapter = QtEventLoop()
        adapter.cancel()
        cancelled = adapter.next_cycle().exception(0)
        state = adapter.is_cancelled
        adapter.reset_cancel()
        return [
            type(cancelled),
            state,
            await adapter.await_future(adapter.next_cycle()),
            adapter.is_cancelled,
        ]

    assert run(main()) == [Cancelled, True, None, False]


def test_run_in_loop_blocking_never_deadlocks(qapp: QtWidgets.QApplication) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def main() -> list[object]:
        adapter = QtEventLoop()
        outcome: list[object] = [
            adapter.run_in_loop(lambda: threading.get_ident(), block=True) == threading.get_ident(),
            await asyncio.wrap_future(in_thread(lambda: adapter.run_in_loop(double, 4, block=True))),
        ]
        # Inside a task asyncio cannot run the coroutine: a clear error, not a hang.
        with pytest.raises(RuntimeError, match="would deadlock"):
            adapter.run_in_loop(double, 1, block=True)
        # From a plain Qt slot (no asyncio callback runs) the nested wait keeps asyncio going.
        done = asyncio.Event()
        timer = QtCore.QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(
            lambda: (outcome.append(adapter.run_in_loop(double, 21, block=True)), done.set())
        )
        timer.start(0)
        await asyncio.wait_for(done.wait(), TIMEOUT)
        return outcome

    assert run(main()) == [True, 8, 42]


def test_calls_for_a_deleted_loop_fail_instead_of_staying_pending(qapp: QtWidgets.QApplication) -> None:
    adapter = QtEventLoop()
    _sip_or_shiboken_delete(adapter)
    error = in_thread(lambda: adapter.from_thread(lambda: "never")).result(TIMEOUT).exception(TIMEOUT)
    assert isinstance(error, RuntimeError)
    assert "the QtEventLoop was deleted: the call cannot reach its thread" in str(error)


def _sip_or_shiboken_delete(obj: QtCore.QObject) -> None:
    """Delete the C++ object now (what a parent's destruction does)."""
    binding = qtinter.bindings.__binding__
    if binding.startswith("PyQt"):
        __import__(f"{binding}.sip", fromlist=["sip"]).delete(obj)
    else:
        __import__("shiboken6" if binding == "PySide6" else "shiboken2").delete(obj)


def test_quitting_from_a_coroutine_ends_the_owned_guest_loop_after_that_step(
    qapp: QtWidgets.QApplication,
) -> None:
    """aboutToQuit fires inside the task's step, where the loop cannot be closed: it ends right after."""
    adapter = QtEventLoop(qapp)
    set_loop(adapter)
    try:
        asyncio_loop = adapter.loop

        async def main() -> str:
            await asyncio.sleep(0)
            qapp.quit()  # inside an asyncio task step
            return "returned"

        future = adapter.run_in_loop(main)
        exec_(qapp)
        assert future.result(TIMEOUT) == "returned"
        assert not adapter.owns_loop
        assert asyncio_loop.is_closed()
        assert asyncio._get_running_loop() is None
    finally:
        set_loop(NO_LOOP)
