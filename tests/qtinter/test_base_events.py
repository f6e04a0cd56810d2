"""The loop itself in owner and guest mode: callbacks, timers, threads, Qt fairness, interleaved code,
modes, and the errors for wrong use."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import signal
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import pytest
from loop_support import MODES, SCRIPT_PRELUDE, app, exec_app, run, run_script

import qtinter
from qtinter.bindings import QtCore

if TYPE_CHECKING:
    from collections.abc import Callable


def make_timer(interval: int, slot: Any, *, single_shot: bool = False) -> Any:
    timer = QtCore.QTimer()
    timer.setSingleShot(single_shot)
    timer.timeout.connect(slot)
    timer.start(interval)
    return timer


@MODES
def test_the_running_loop_is_a_qtinter_loop_in_its_mode(mode: str) -> None:
    async def main() -> tuple[type, qtinter.QiLoopMode]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        return type(loop), loop.get_mode()

    cls, loop_mode = run(mode, main)
    assert issubclass(cls, qtinter.QiDefaultEventLoop)
    assert loop_mode is (qtinter.QiLoopMode.OWNER if mode == "owner" else qtinter.QiLoopMode.GUEST)


@MODES
def test_callbacks_run_in_order_with_their_arguments_and_context(mode: str) -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        seen: list[Any] = []
        done = loop.create_future()
        for i in range(100):
            loop.call_soon(seen.append, i)
        ctx = contextvars.copy_context()
        ctx.run(var.set, "in context")
        loop.call_soon(lambda: seen.append(var.get()), context=ctx)
        loop.call_soon(done.set_result, None)
        await done
        return seen

    assert run(mode, main) == [*range(100), "in context"]


@MODES
def test_timers_fire_in_deadline_order_and_never_early(mode: str) -> None:
    async def main() -> list[tuple[int, bool]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[int, bool]] = []
        done = loop.create_future()
        start = loop.time()
        delays = [0.03, 0.001, 0.02, 0.0, 0.005, 0.011]
        for i, delay in enumerate(delays):
            when = start + delay
            loop.call_at(when, lambda i=i, when=when: fired.append((i, loop.time() >= when)))
        cancelled = loop.call_later(0.002, fired.append, "cancelled")
        cancelled.cancel()
        loop.call_later(0.05, done.set_result, None)
        await done
        return fired

    fired = run(mode, main)
    assert [i for i, _ in fired] == [3, 1, 4, 5, 2, 0]
    assert all(on_time for _, on_time in fired)


def test_timers_far_in_the_future_do_not_break_the_loop() -> None:
    # Qt timers take 32-bit milliseconds; asyncio timers may be years away. No other asyncio timer
    # may exist meanwhile (run() would add its own timeout), so both modes are spelled out here.
    async def main() -> str:
        loop = asyncio.get_running_loop()
        far = loop.call_later(1e9, print, "never")
        woken = loop.create_future()
        # While this waits, the far timer is the only asyncio timer: the loop arms Qt's for it.
        timer = make_timer(20, lambda: woken.set_result(None), single_shot=True)
        await woken
        del timer
        far.cancel()
        return "still running"

    loop = qtinter.new_event_loop()
    try:
        assert loop.run_until_complete(main()) == "still running"
    finally:
        loop.close()

    results: list[str] = []
    with qtinter.using_asyncio_from_qt() as loop:

        async def guest() -> None:
            results.append(await main())
            app().exit(0)

        loop.call_soon(lambda: loop.create_task(guest()))
        exec_app()
    assert results == ["still running"]


@MODES
def test_sleep_chains_and_gather(mode: str) -> None:
    async def worker(n: int) -> int:
        for _ in range(n):
            await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return n

    async def main() -> list[int]:
        return await asyncio.gather(*(worker(n) for n in range(50)))

    assert run(mode, main) == list(range(50))


@MODES
def test_call_soon_threadsafe_from_many_threads_loses_nothing_and_keeps_order(mode: str) -> None:
    threads, per_thread = 8, 500

    async def main() -> dict[int, list[int]]:
        loop = asyncio.get_running_loop()
        received: dict[int, list[int]] = {t: [] for t in range(threads)}
        done = loop.create_future()
        remaining = [threads * per_thread]

        def receive(t: int, i: int) -> None:
            received[t].append(i)
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set_result(None)

        def produce(t: int) -> None:
            for i in range(per_thread):
                loop.call_soon_threadsafe(receive, t, i)

        workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        await done
        for w in workers:
            w.join()
        return received

    received = run(mode, main)
    assert all(received[t] == list(range(per_thread)) for t in range(threads))


@MODES
def test_qt_keeps_dispatching_its_events_while_asyncio_is_saturated(mode: str) -> None:
    async def main() -> int:
        ticks = [0]

        def tick() -> None:
            ticks[0] += 1

        timer = make_timer(1, tick)
        try:
            # Saturate asyncio (always something ready): only a loop that gives Qt its turn lets the
            # Qt timer count up, so this finishes only if Qt is not starved.
            spins = 0
            while ticks[0] < 20:
                await asyncio.sleep(0)
                spins += 1
            return spins
        finally:
            timer.stop()

    assert run(mode, main) > 0


@MODES
def test_qt_gets_its_turn_after_every_iteration_longer_than_the_budget(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An iteration that alone uses up the pump's time budget (a callback that computes for 10 ms)
    # must be followed by a Qt turn: a pump that looked at the clock only every few iterations let
    # several such iterations run back to back and starved Qt for hundreds of milliseconds. The
    # budget's clock is a fake one that each callback advances by its 10 ms.
    now = [0.0]
    monkeypatch.setattr(qtinter._base_events, "clock", lambda: now[0])

    async def main() -> list[int]:
        ticks = [0]
        timer = make_timer(0, lambda: ticks.__setitem__(0, ticks[0] + 1))
        runs_between_ticks: list[int] = []
        last = [-1]

        def busy() -> None:
            if ticks[0] == last[0]:
                runs_between_ticks[-1] += 1
            else:
                last[0] = ticks[0]
                runs_between_ticks.append(1)
            now[0] += 0.010

        try:
            for _ in range(12):
                asyncio.get_running_loop().call_soon(busy)
                await asyncio.sleep(0)
            return runs_between_ticks
        finally:
            timer.stop()

    runs_between_ticks = run(mode, main)
    assert max(runs_between_ticks) == 1, runs_between_ticks


async def qt_ticks_during_2000_sleeps() -> int:
    """How often a zero-interval Qt timer fired while a coroutine ran 2000 ``sleep(0)`` iterations."""
    ticks = [0]
    timer = make_timer(0, lambda: ticks.__setitem__(0, ticks[0] + 1))
    try:
        for _ in range(2000):
            await asyncio.sleep(0)
        return ticks[0]
    finally:
        timer.stop()


@MODES
def test_many_asyncio_iterations_run_per_qt_dispatch(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The design: a busy asyncio loop runs many iterations per Qt wake-up, not one per Qt event,
    # until its time budget is used. The budget's clock is stopped here, so the iterations never
    # end for want of time: Qt gets no pass at all until asyncio has nothing left to do.
    monkeypatch.setattr(qtinter._base_events, "clock", lambda: 0.0)

    assert run(mode, qt_ticks_during_2000_sleeps) == 0


@MODES
def test_qt_gets_a_pass_whenever_the_budget_is_used(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that advances half the budget per reading: the pump gives Qt a pass every second
    # iteration, however fast the machine.
    readings = itertools.count()
    step = qtinter._base_events.PUMP_BUDGET / 2
    monkeypatch.setattr(qtinter._base_events, "clock", lambda: next(readings) * step)

    assert run(mode, qt_ticks_during_2000_sleeps) >= 500


@MODES
def test_interleaved_qt_code_wakes_the_sleeping_loop(mode: str) -> None:
    # Qt code (a QTimer slot) calls into the loop while it is logically blocked in select with
    # nothing to do: each call must wake it. Nothing else wakes it meanwhile (no task polls), so a
    # call that does not wake it leaves the await pending until its 5 s guard fails the test.
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        log: list[str] = []
        calls: list[tuple[str, Callable[[asyncio.Future[str]], object]]] = [
            ("set_result", lambda woke: woke.set_result("set_result")),  # done callbacks: call_soon
            ("call_soon", lambda woke: loop.call_soon(woke.set_result, "call_soon")),
            ("call_later", lambda woke: loop.call_later(0.001, woke.set_result, "call_later")),
            ("call_at", lambda woke: loop.call_at(loop.time(), woke.set_result, "call_at")),
        ]
        for _name, call in calls:
            woke: asyncio.Future[str] = loop.create_future()
            timer = make_timer(0, functools.partial(call, woke), single_shot=True)
            log.append(await asyncio.wait_for(woke, 5))
            del timer
        return log

    assert run(mode, main) == ["set_result", "call_soon", "call_later", "call_at"]


@MODES
def test_the_loop_adds_one_attribute_to_asyncios_loop(mode: str) -> None:
    # CPython 3.11+ keeps attributes inline (fast attribute and method loads, for asyncio's own code
    # too) only while a class's instances use at most 30 names, and asyncio's loop has 24-26: all of
    # qtinter's state belongs in loop._qi (measured: 44 attributes on the loop cost the call_soon
    # chain 5-8%). Checked after the loop ran and slept, so wake-up hooks left behind count too.
    async def main() -> int:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.01)
        return len(vars(loop))

    # The stock loop that qtinter's default loop extends on this platform.
    plain = asyncio.ProactorEventLoop() if sys.platform == "win32" else asyncio.SelectorEventLoop()
    try:
        plain_count = len(vars(plain))
    finally:
        plain.close()
    assert run(mode, main) == plain_count + 1


@MODES
def test_a_call_soon_the_application_set_on_the_loop_survives_its_sleeps(mode: str) -> None:
    # The loop's wake-up hooks must never replace (and then delete) an attribute the application put
    # on the loop instance, e.g. unittest.mock.patch.object(loop, "call_soon", wraps=...).
    async def main() -> tuple[bool, list[str]]:
        loop = asyncio.get_running_loop()
        calls: list[str] = []
        stock = loop.call_soon

        def recording_call_soon(callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
            calls.append(getattr(callback, "__name__", "?"))
            return stock(callback, *args, context=context)

        loop.call_soon = recording_call_soon  # type: ignore[method-assign]
        try:
            ran = loop.create_future()

            def from_qt() -> None:
                ran.set_result(None)

            timer = make_timer(10, lambda: loop.call_soon(from_qt), single_shot=True)
            await asyncio.sleep(0.05)  # asleep when the Qt timer fires
            await ran
            del timer
            return loop.call_soon is recording_call_soon, calls
        finally:
            del loop.call_soon

    kept, calls = run(mode, main)
    assert kept
    assert "from_qt" in calls


def test_stop_from_qt_code_ends_guest_mode_and_start_resumes_it() -> None:
    loop = qtinter.new_event_loop()
    try:
        loop.set_mode(qtinter.QiLoopMode.GUEST)
        loop.start()
        assert loop.is_running()
        ran: list[str] = []
        loop.call_soon(ran.append, "first run")
        stop_timer = make_timer(20, loop.stop, single_shot=True)
        quit_timer = make_timer(60, lambda: app().exit(0), single_shot=True)
        exec_app()
        assert not loop.is_running()
        assert ran == ["first run"]
        loop.call_soon(ran.append, "after restart")
        loop.start()
        quit_timer = make_timer(20, lambda: app().exit(0), single_shot=True)
        exec_app()
        loop.stop()  # Qt's loop has returned: the final iteration runs now
        assert not loop.is_running()
        assert ran == ["first run", "after restart"]
        del quit_timer, stop_timer
    finally:
        loop.close()


def test_stop_from_qt_code_ends_owner_mode_run_forever() -> None:
    loop = qtinter.new_event_loop()
    try:
        timer = make_timer(20, loop.stop, single_shot=True)
        loop.run_forever()
        assert not loop.is_running()
        del timer
        # stop() before run_forever: one iteration runs, then it returns (asyncio's rule).
        ran: list[int] = []
        loop.call_soon(ran.append, 1)
        loop.stop()
        loop.run_forever()
        assert ran == [1]
    finally:
        loop.close()


def test_native_mode_is_plain_asyncio() -> None:
    loop = qtinter.new_event_loop()
    try:
        loop.set_mode(qtinter.QiLoopMode.NATIVE)
        ticks = [0]
        timer = make_timer(0, lambda: ticks.__setitem__(0, ticks[0] + 1))
        assert loop.run_until_complete(asyncio.sleep(0.02, "done")) == "done"
        timer.stop()
        assert ticks[0] == 0  # no Qt event loop ran
    finally:
        loop.close()


@MODES
def test_executor_and_default_executor_shutdown(mode: str) -> None:
    async def main() -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        caller = threading.get_ident()
        value = await loop.run_in_executor(None, lambda: 6 * 7)
        other = await loop.run_in_executor(None, threading.get_ident)
        return value, other != caller

    assert run(mode, main) == (42, True)


@MODES
def test_async_generators_are_finalized_at_shutdown(mode: str) -> None:
    finalized: list[str] = []

    async def gen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finalized.append("finally ran")

    async def main() -> int:
        agen = gen()
        first = await agen.__anext__()
        globals()["_kept_agen"] = agen  # keep it suspended: only shutdown_asyncgens can close it
        return first

    try:
        assert run(mode, main) == 1
    finally:
        globals().pop("_kept_agen", None)
    assert finalized == ["finally ran"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is new in 3.12")
@MODES
def test_eager_task_factory(mode: str) -> None:
    async def child(log: list[str]) -> str:
        log.append("child started")
        await asyncio.sleep(0)
        return "child done"

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
        log: list[str] = []
        task = asyncio.create_task(child(log))
        log.append("after create_task")
        log.append(await task)
        return log

    assert run(mode, main) == ["child started", "after create_task", "child done"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is new in 3.12")
def test_asyncio_run_with_loop_factory_needs_no_policy() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        await asyncio.sleep(0.001)
        return loop.get_mode().name

    assert asyncio.run(main(), loop_factory=qtinter.new_event_loop) == "OWNER"  # type: ignore[call-arg,unused-ignore]


def test_using_qt_from_asyncio_makes_asyncio_run_use_a_qtinter_loop() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        return loop.get_mode().name

    with qtinter.using_qt_from_asyncio():
        assert asyncio.run(main()) == "OWNER"
    plain = asyncio.new_event_loop()
    plain.close()
    assert not isinstance(plain, qtinter.QiBaseEventLoop)


def test_policy_classes_create_qtinter_loops() -> None:
    for policy_cls in (qtinter.QiDefaultEventLoopPolicy, qtinter.QiSelectorEventLoopPolicy):
        loop = policy_cls().new_event_loop()
        try:
            assert isinstance(loop, qtinter.QiBaseEventLoop)
            assert loop.get_mode() is qtinter.QiLoopMode.OWNER
        finally:
            loop.close()


def test_using_asyncio_from_qt_cleans_up_in_native_mode_after_qt_returns() -> None:
    log: list[str] = []

    async def long_running() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            loop = asyncio.get_running_loop()
            log.append(f"cancelled in {loop.get_mode().name} mode")  # type: ignore[attr-defined]
            await asyncio.sleep(0.001)  # clean-up may still await
            log.append("clean-up finished")
            raise

    with qtinter.using_asyncio_from_qt() as loop:
        loop.call_soon(lambda: loop.create_task(long_running()))
        quit_timer = make_timer(20, lambda: app().exit(0), single_shot=True)
        exec_app()
        del quit_timer
    assert loop.is_closed()
    assert log == ["cancelled in NATIVE mode", "clean-up finished"]


# -- errors -------------------------------------------------------------------------------------------


def test_set_mode_rejects_what_is_not_a_mode() -> None:
    loop = qtinter.new_event_loop()
    try:
        with pytest.raises(TypeError, match="QiLoopMode"):
            loop.set_mode("GUEST")  # type: ignore[arg-type]
    finally:
        loop.close()


@MODES
def test_set_mode_while_running_is_an_error(mode: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        with pytest.raises(RuntimeError, match="cannot change the mode of a running event loop"):
            loop.set_mode(qtinter.QiLoopMode.NATIVE)

    run(mode, main)


@MODES
def test_running_a_running_loop_again_is_an_error(mode: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(coro)
        coro.close()

    run(mode, main)


def test_guest_mode_has_no_run_forever_and_owner_mode_no_start() -> None:
    loop = qtinter.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match=r"start\(\) runs the loop in guest mode"):
            loop.start()
        loop.set_mode(qtinter.QiLoopMode.GUEST)
        with pytest.raises(RuntimeError, match="not available in guest mode"):
            loop.run_forever()
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="not available in guest mode"):
            loop.run_until_complete(coro)
        coro.close()
    finally:
        loop.close()


def test_a_closed_loop_cannot_run_in_any_mode() -> None:
    loop = qtinter.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_forever()
    guest = qtinter.new_event_loop()
    guest.set_mode(qtinter.QiLoopMode.GUEST)
    guest.close()
    with pytest.raises(RuntimeError, match="closed"):
        guest.start()


def test_set_mode_refuses_a_closed_loop_and_a_pending_stop() -> None:
    # Issue 12 item 8: the mode of a closed loop, or of one whose next run is already cut short by
    # a stop() made while it was not running, cannot change.
    loop = qtinter.new_event_loop()
    loop.stop()
    with pytest.raises(RuntimeError, match="while a stop is pending"):
        loop.set_mode(qtinter.QiLoopMode.GUEST)
    assert loop.get_mode() is qtinter.QiLoopMode.OWNER
    loop.run_forever()  # the pending stop: one iteration
    loop.set_mode(qtinter.QiLoopMode.NATIVE)
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.set_mode(qtinter.QiLoopMode.OWNER)
    assert loop.get_mode() is qtinter.QiLoopMode.NATIVE


def test_owner_mode_cannot_run_after_the_application_was_told_to_exit() -> None:
    errors: list[BaseException] = []

    def inside_app() -> None:
        app().exit(0)  # Qt runs no further event loop until app.exec() is called again
        loop = qtinter.new_event_loop()
        try:
            loop.run_until_complete(loop.create_future())
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            loop.close()

    timer = make_timer(0, inside_app, single_shot=True)
    exec_app()
    del timer
    assert len(errors) == 1
    assert "QCoreApplication.exit()" in str(errors[0])
    assert "NATIVE" in str(errors[0])


def test_qt_loop_ended_from_outside_is_reported_and_native_mode_can_clean_up() -> None:
    loop = qtinter.new_event_loop()
    try:
        task = loop.create_task(asyncio.sleep(3600))
        timer = make_timer(10, lambda: app().exit(0), single_shot=True)
        with pytest.raises(RuntimeError, match="ended from outside"):
            loop.run_until_complete(task)
        del timer
        assert not loop.is_running()
        loop.set_mode(qtinter.QiLoopMode.NATIVE)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()
        reset_quit_state()


def reset_quit_state() -> None:
    """QCoreApplication.exit() outside app.exec() leaves Qt refusing event loops until app.exec() runs."""
    timer = make_timer(0, lambda: app().exit(0), single_shot=True)
    exec_app()
    del timer


def test_owner_and_guest_mode_need_a_qcoreapplication() -> None:
    result = run_script(
        SCRIPT_PRELUDE
        + """
loop = qtinter.new_event_loop()
for mode, action in [("OWNER", lambda: loop.run_until_complete(asyncio.sleep(0))), ("GUEST", loop.start)]:
    loop.set_mode(qtinter.QiLoopMode[mode])
    try:
        action()
    except RuntimeError as exc:
        print(mode, "error:", exc)
loop.set_mode(qtinter.QiLoopMode.NATIVE)
print("native:", loop.run_until_complete(asyncio.sleep(0, "ok")))
loop.close()
"""
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OWNER error: a qtinter loop in OWNER mode needs a QCoreApplication")
    assert lines[1].startswith("GUEST error: a qtinter loop in GUEST mode needs a QCoreApplication")
    assert lines[2] == "native: ok"


# -- nested Qt loops ----------------------------------------------------------------------------------


def run_nested_qt_loop(msec: int) -> None:
    nested = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(msec, nested.quit)
    run_exec = getattr(nested, "exec", None) or nested.exec_
    run_exec()


@MODES
def test_exec_modal_keeps_asyncio_running_inside_a_nested_qt_loop(mode: str) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        log: list[str] = []
        finished = loop.create_future()

        def modal() -> None:
            log.append("nested loop starts")
            nested = QtCore.QEventLoop()
            # asyncio runs inside the nested loop: this task ends it.
            ender = loop.create_task(end_nested(nested))
            run_exec = getattr(nested, "exec", None) or nested.exec_
            run_exec()
            log.append("nested loop ended")
            finished.set_result(ender.done())

        async def end_nested(nested: Any) -> None:
            for _ in range(5):
                await asyncio.sleep(0.001)
            log.append("asyncio ran inside the nested loop")
            nested.quit()

        loop.exec_modal(modal)
        log.append("exec_modal returned")
        await finished
        return log

    assert run(mode, main) == [
        "exec_modal returned",
        "nested loop starts",
        "asyncio ran inside the nested loop",
        "nested loop ended",
    ]


def test_exec_modal_outside_an_iteration_is_an_error() -> None:
    loop = qtinter.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="exec_modal"):
            loop.exec_modal(lambda: None)
    finally:
        loop.close()


@MODES
def test_a_nested_qt_loop_inside_a_callback_pauses_asyncio_without_spinning(mode: str) -> None:
    # Without exec_modal, asyncio cannot run while one of its callbacks runs a nested Qt loop; the
    # nested loop must still work (Qt timers fire), and asyncio resumes afterwards with nothing lost.
    async def main() -> tuple[int, list[str]]:
        loop = asyncio.get_running_loop()
        log: list[str] = []
        ticks = [0]
        timer = make_timer(1, lambda: ticks.__setitem__(0, ticks[0] + 1))
        threading.Thread(target=lambda: loop.call_soon_threadsafe(log.append, "threadsafe")).start()
        loop.call_soon(log.append, "queued")
        run_nested_qt_loop(60)  # inside this task's step
        timer.stop()
        log.append("step resumed")
        await asyncio.sleep(0.01)
        return ticks[0], log

    ticks, log = run(mode, main)
    assert ticks > 0
    assert log[0] == "step resumed"
    assert sorted(log[1:]) == ["queued", "threadsafe"]


# -- exceptions that end the loop -------------------------------------------------------------------------


def test_system_exit_from_a_callback_ends_owner_mode() -> None:
    loop = qtinter.new_event_loop()
    try:
        loop.call_later(0.01, sys.exit, 3)
        with pytest.raises(SystemExit) as info:
            loop.run_forever()
        assert info.value.code == 3
        assert not loop.is_running()
        assert loop.run_until_complete(asyncio.sleep(0, "usable again")) == "usable again"
    finally:
        loop.close()


def test_system_exit_from_a_callback_ends_guest_mode_and_reaches_the_with_block() -> None:
    returned: list[int] = []
    with pytest.raises(SystemExit) as info, qtinter.using_asyncio_from_qt() as loop:  # noqa: PT012
        loop.call_later(0.01, sys.exit, 4)
        guard = make_timer(10000, lambda: app().exit(99), single_shot=True)
        returned.append(exec_app())
        guard.stop()
    assert info.value.code == 4
    assert returned == [1]  # Qt's loop was quit


def test_guest_mode_debug_flag_and_loop_factory() -> None:
    with qtinter.using_asyncio_from_qt(debug=True, loop_factory=qtinter.QiSelectorEventLoop) as loop:
        assert type(loop) is qtinter.QiSelectorEventLoop
        assert loop.get_debug()
        assert loop.get_mode() is qtinter.QiLoopMode.GUEST
        assert loop.is_running()


def test_wake_up_hooks_never_replace_what_the_application_set_on_the_loop() -> None:
    calls: list[Any] = []
    loop = qtinter.new_event_loop()
    try:
        original = loop.call_soon

        def spy(callback: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(callback)
            return original(callback, *args, **kwargs)

        loop.call_soon = spy  # type: ignore[method-assign]
        loop.run_until_complete(asyncio.sleep(0.01))
        assert loop.call_soon is spy
        assert calls  # asyncio's own scheduling went through the application's attribute
    finally:
        loop.close()


def test_a_loop_closes_after_the_application_is_gone() -> None:
    # A script that never closes its loop: the application is destroyed first, then the loop is
    # closed (explicitly here; by BaseEventLoop.__del__ at exit otherwise). Closing must not fail
    # on the Qt objects that died with the application.
    result = run_script(
        SCRIPT_PRELUDE
        + """
import gc
app = QtCore.QCoreApplication([])
loop = qtinter.new_event_loop()
loop.run_until_complete(asyncio.sleep(0.01))
del app
gc.collect()
loop.close()
print("closed:", loop.is_closed())
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "closed: True"
    assert "Exception ignored" not in result.stderr


# -- exec_modal: right after the current callback (issue 12 item 7) ---------------------------------------


@MODES
def test_exec_modal_runs_right_after_the_current_callback(mode: str) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        log: list[str] = []
        done = loop.create_future()

        def first() -> None:
            loop.exec_modal(lambda: log.append("modal"))
            log.append("first")

        # Three callbacks of one iteration: the modal function runs between the first and the second.
        loop.call_soon(first)
        loop.call_soon(log.append, "second")
        loop.call_soon(done.set_result, None)
        await done
        return log

    assert run(mode, main) == ["first", "modal", "second"]


def test_exec_modal_is_not_skipped_by_a_stop_later_in_the_callback() -> None:
    log: list[str] = []
    loop = qtinter.new_event_loop()
    try:

        def callback() -> None:
            loop.exec_modal(lambda: log.append(f"modal, running={loop.is_running()}"))
            loop.stop()
            log.append("stop called")

        # The stop takes effect after the whole iteration: after the modal function and the
        # callbacks it held back.
        expected = ["stop called", "modal, running=True", "rest of the iteration"]
        loop.call_soon(callback)
        loop.call_soon(log.append, "rest of the iteration")
        loop.run_forever()  # owner mode
        assert log == expected
        log.clear()
        loop.set_mode(qtinter.QiLoopMode.GUEST)
        loop.start()
        loop.call_soon(callback)
        loop.call_soon(log.append, "rest of the iteration")
        guard = make_timer(5000, lambda: app().exit(1), single_shot=True)
        quit_when_stopped = make_timer(1, lambda: loop.is_running() or app().exit(0))
        assert exec_app() == 0
        del guard, quit_when_stopped
        assert log == expected
    finally:
        loop.close()


def test_exec_modal_after_system_exit_in_the_callback_runs_on_the_next_run() -> None:
    log: list[str] = []
    loop = qtinter.new_event_loop()
    try:

        def callback() -> None:
            loop.exec_modal(lambda: log.append("modal"))
            raise SystemExit(3)

        loop.call_soon(callback)
        loop.call_soon(log.append, "second callback")
        with pytest.raises(SystemExit):
            loop.run_forever()
        assert log == []
        loop.run_until_complete(asyncio.sleep(0))
        assert log == ["modal", "second callback"]  # nothing lost, in order
    finally:
        loop.close()


@MODES
def test_exec_modal_takes_one_function_at_a_time(mode: str) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        log: list[str] = []
        loop.exec_modal(lambda: log.append("first"))
        with pytest.raises(RuntimeError, match="still waiting to run"):
            loop.exec_modal(lambda: log.append("second"))
        await asyncio.sleep(0)
        loop.exec_modal(lambda: log.append("third"))  # the first has run: a new one is accepted
        await asyncio.sleep(0)
        return log

    assert run(mode, main) == ["first", "third"]


# -- ending a guest loop without Qt (issue 12 item 9) -----------------------------------------------------


def _thread_state() -> tuple[Any, Any, int]:
    """What a loop may leave behind in this thread: the running loop, the SIGINT handler, the wake-up fd."""
    try:
        running: Any = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    handler = (
        signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    )
    fd = -1
    if threading.current_thread() is threading.main_thread():
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd)
    return running, handler, fd


def test_a_guest_loop_ends_with_stop_and_close_without_qt_running_again() -> None:
    before = _thread_state()
    loop = qtinter.new_event_loop()
    loop.set_mode(qtinter.QiLoopMode.GUEST)
    loop.start()
    ran: list[str] = []
    loop.call_soon(ran.append, "callback")  # never run by Qt: its loop does not run here
    loop.stop()
    assert not loop.is_running()
    assert ran == ["callback"]  # the final iteration ran, as run_forever's would
    assert _thread_state() == before
    loop.close()
    # Nothing left: another loop runs in this thread.
    assert asyncio.run(asyncio.sleep(0, "next loop"), debug=False) == "next loop"


def test_close_ends_a_guest_loop_whose_stop_came_from_a_task() -> None:
    loop = qtinter.new_event_loop()
    loop.set_mode(qtinter.QiLoopMode.GUEST)
    loop.start()

    async def stop_from_the_eager_step() -> None:
        asyncio.get_running_loop().stop()  # inside a task step: the stop waits for an iteration

    loop.run_task(stop_from_the_eager_step())
    assert loop.is_running()
    loop.close()  # finishes the pending stop, then closes
    assert loop.is_closed()
    assert _thread_state()[0] is None


def test_a_guest_loop_in_a_qthread_ends_with_stop_and_close() -> None:
    outcome: dict[str, Any] = {}

    class Worker(QtCore.QThread):
        def run(self) -> None:
            try:
                for attempt in range(2):  # the second loop runs only if the first left nothing behind
                    loop = qtinter.new_event_loop()
                    loop.set_mode(qtinter.QiLoopMode.GUEST)
                    loop.start()
                    done = loop.create_future()
                    loop.call_later(0.001, done.set_result, f"loop {attempt}")
                    nested = QtCore.QEventLoop()
                    done.add_done_callback(lambda _f, nested=nested: nested.quit())
                    (getattr(nested, "exec", None) or nested.exec_)()
                    loop.stop()
                    loop.close()
                    outcome.setdefault("results", []).append(done.result())
                outcome["left"] = _thread_state()[0]
            except BaseException as exc:
                outcome["error"] = exc

    worker = Worker()
    worker.start()
    assert worker.wait(20000)
    if "error" in outcome:
        raise outcome["error"]
    assert outcome == {"results": ["loop 0", "loop 1"], "left": None}


# -- a closed loop is freed at once (issue 12 item 13) ----------------------------------------------------


def _exercise(loop: qtinter.QiBaseEventLoop) -> None:
    async def main() -> None:
        running = asyncio.get_running_loop()
        await asyncio.sleep(0.001)
        await running.run_in_executor(None, time.sleep, 0)  # a thread wakes the loop
        if hasattr(running, "add_signal_handler"):
            running.add_signal_handler(signal.SIGUSR1, lambda: None)
            running.remove_signal_handler(signal.SIGUSR1)
        running.call_soon(lambda: None)
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_default_executor())


@pytest.mark.parametrize("mode", ["owner", "guest", "native"])
def test_a_closed_loop_is_freed_by_reference_counting(mode: str) -> None:
    gc.collect()
    gc.disable()
    try:
        loop = qtinter.new_event_loop()
        if mode == "guest":
            with contextlib.closing(loop):
                loop.set_mode(qtinter.QiLoopMode.GUEST)
                loop.start()
                task = loop.create_task(asyncio.sleep(0.001))
                task.add_done_callback(lambda _t: app().exit(0))
                exec_app()
                loop.stop()
                del task
        else:
            loop.set_mode(qtinter.QiLoopMode[mode.upper()])
            with contextlib.closing(loop):
                _exercise(loop)
        freed = weakref.ref(loop)
        del loop
        assert freed() is None
    finally:
        gc.enable()


def test_a_closed_guest_loop_from_using_asyncio_from_qt_is_freed_by_reference_counting() -> None:
    def quit_after_a_task(loop: asyncio.AbstractEventLoop) -> None:
        loop.create_task(asyncio.sleep(0.001)).add_done_callback(lambda _t: app().exit(0))

    gc.collect()
    gc.disable()
    try:
        with qtinter.using_asyncio_from_qt() as loop:
            loop.call_soon(quit_after_a_task, loop)
            exec_app()
        freed = weakref.ref(loop)
        del loop
        assert freed() is None
    finally:
        gc.enable()


# -- QCoreApplication.exit() while owner mode runs (issue 13 item 7) --------------------------------------


def test_application_exit_during_asyncio_run_raises_after_the_coroutine_cleaned_up() -> None:
    log: list[str] = []

    @contextlib.contextmanager
    def resource() -> Any:
        try:
            yield
        finally:
            log.append("with block left")

    async def main() -> None:
        try:
            with resource():
                timer = make_timer(1, lambda: app().exit(0), single_shot=True)
                await asyncio.sleep(3600)  # rendering, say
                del timer
        finally:
            log.append(f"finally ran in {asyncio.get_running_loop().get_mode().name} mode")

    try:
        with pytest.raises(RuntimeError, match="ended from outside"), qtinter.using_qt_from_asyncio():
            asyncio.run(main())
        assert log == ["with block left", "finally ran in NATIVE mode"]
    finally:
        reset_quit_state()
    # Qt runs again: so does owner mode.
    assert run("owner", lambda: asyncio.sleep(0, "owner mode again")) == "owner mode again"
