"""qtinter's loop classes as drop-in base classes for asyncio loop subclasses (issue 12).

Loops that other projects build on ``asyncio.BaseEventLoop`` or ``BaseSelectorEventLoop`` (test loops
with a fake selector and a virtual clock, loops that override ``_run_once``, ``_process_events`` or
``_write_to_self``) must work unchanged on ``QiBaseEventLoop`` and ``QiBaseSelectorEventLoop``, in
owner and guest mode: Qt decides when the loop iterates, the subclass decides how.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
from typing import Any

import pytest
from loop_support import MODES, app, exec_app, run

import qtinter
from qtinter.bindings import QtCore


class FakeSelector(selectors.BaseSelector):
    """A selector without a descriptor that never waits (as asyncio's own test loop has)."""

    def __init__(self) -> None:
        self.keys: dict[Any, selectors.SelectorKey] = {}
        self.timeouts: list[float | None] = []

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, 0, events, data)
        self.keys[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.keys.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[Any]:
        self.timeouts.append(timeout)
        return []

    def get_map(self) -> Any:
        return self.keys


class VirtualClockLoop(qtinter.QiBaseEventLoop):
    """A base-only loop with a virtual clock, built as asyncio's test loop is: the clock jumps to the
    next timer after each iteration that had nothing else to do, so an hour passes at once."""

    def __init__(self) -> None:
        super().__init__()
        self._selector = FakeSelector()
        self.virtual_time = 0.0
        self.processed: list[Any] = []
        self.self_writes = 0

    def time(self) -> float:
        return self.virtual_time

    def _run_once(self) -> None:
        super()._run_once()
        if not self._ready and self._scheduled:
            self.virtual_time = max(self.virtual_time, self._scheduled[0].when())

    def _process_events(self, event_list: list[Any]) -> None:
        self.processed.append(event_list)

    def _write_to_self(self) -> None:
        self.self_writes += 1


def in_mode(mode: str, loop: qtinter.QiBaseEventLoop, main: Any) -> Any:
    """Run ``main()`` on ``loop`` in ``mode``, then close it. No asyncio timer guards the run (on a
    virtual clock it would expire at once): a Qt timer does, on the real clock."""
    try:
        if mode == "owner":
            timer = QtCore.QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(loop.stop)
            timer.start(20000)
            try:
                return loop.run_until_complete(main())
            finally:
                timer.stop()
        loop.set_mode(qtinter.QiLoopMode.GUEST)
        loop.start()
        task = loop.create_task(main())
        task.add_done_callback(lambda _t: app().exit(0))
        timer = QtCore.QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: app().exit(1))
        timer.start(20000)
        exec_app()
        timer.stop()
        loop.stop()
        return task.result()
    finally:
        loop.close()


@MODES
def test_a_base_only_loop_with_a_virtual_clock_runs_in_qt(mode: str) -> None:
    loop = VirtualClockLoop()

    async def main() -> tuple[float, str, str]:
        running = asyncio.get_running_loop()
        start = running.time()
        await asyncio.sleep(3600)  # a virtual hour: no real wait
        # Qt runs the loop: a Qt timer's slot reaches it (interleaved code wakes it).
        fired = running.create_future()
        QtCore.QTimer.singleShot(1, lambda: fired.set_result("qt timer"))
        # Another thread wakes it, though the loop's _write_to_self does nothing but count.
        from_thread = await running.run_in_executor(None, lambda: "thread")
        return running.time() - start, await fired, from_thread

    hour, fired, from_thread = in_mode(mode, loop, main)
    assert hour >= 3600
    assert (fired, from_thread) == ("qt timer", "thread")
    assert loop.processed  # the subclass's _process_events ran (with the fake selector's events)
    assert loop.self_writes > 0  # and asyncio's wake-ups still went to its _write_to_self
    assert loop.is_closed()


class AdvancingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """A real selector (epoll on Linux) whose waits advance a virtual clock instead of passing."""

    def __init__(self) -> None:
        super().__init__()
        self.virtual_time = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is not None:
            self.virtual_time += timeout
        return super().select(0 if timeout is not None else None)  # type: ignore[no-any-return]


class AdvancingClockLoop(qtinter.QiSelectorEventLoop):
    """A selector loop whose time() is its selector's virtual clock (the pattern of fake-clock plugins)."""

    def __init__(self) -> None:
        super().__init__(AdvancingSelector())

    def time(self) -> float:
        return self._selector.virtual_time if self._selector is not None else 0.0  # type: ignore[no-any-return]


@MODES
def test_a_virtual_clock_advanced_by_the_selector_runs_in_qt(mode: str) -> None:
    loop = AdvancingClockLoop()

    async def main() -> tuple[float, bytes]:
        running = asyncio.get_running_loop()
        start = running.time()
        await asyncio.sleep(86400)  # a virtual day
        elapsed = running.time() - start
        # Real I/O still works: the selector has a descriptor Qt watches.
        a, b = socket.socketpair()
        try:
            reader, writer = await asyncio.open_connection(sock=a)
            threading.Thread(target=b.sendall, args=(b"ping",)).start()
            data = await reader.readexactly(4)
            writer.close()
        finally:
            b.close()
        return elapsed, data

    elapsed, data = in_mode(mode, loop, main)
    assert elapsed >= 86400
    assert data == b"ping"


class CountingWriteLoop(qtinter.QiSelectorEventLoop):
    """A selector loop that gives _write_to_self() a meaning of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def _write_to_self(self) -> None:
        self.writes += 1
        super()._write_to_self()


@MODES
def test_an_overridden_write_to_self_is_called_for_every_threadsafe_call(mode: str) -> None:
    loop = CountingWriteLoop()

    async def main() -> tuple[list[int], int]:
        running = asyncio.get_running_loop()
        assert isinstance(running, CountingWriteLoop)
        received: list[int] = []
        done = running.create_future()
        before = running.writes

        def post() -> None:
            for i in range(50):
                running.call_soon_threadsafe(received.append, i)
            running.call_soon_threadsafe(done.set_result, None)

        thread = threading.Thread(target=post)
        thread.start()
        await done
        await running.run_in_executor(None, thread.join)
        return received, running.writes - before

    received, writes = run(mode, main, loop_factory=lambda: loop)
    assert received == list(range(50))
    assert writes >= 51  # one per call, as asyncio's call_soon_threadsafe does


def test_the_loop_keeps_the_selector_it_was_given() -> None:
    selector = selectors.DefaultSelector()
    loop = qtinter.QiSelectorEventLoop(selector)
    try:
        assert loop._selector is selector  # type: ignore[attr-defined]
        loop.run_until_complete(asyncio.sleep(0.001))
        assert loop._selector is selector  # type: ignore[attr-defined]
    finally:
        loop.close()


@pytest.mark.parametrize("mode", ["owner", "guest"])
def test_a_base_loop_with_a_fake_selector_waits_in_qt_not_in_a_spin(mode: str) -> None:
    # Nothing to do but a timer 50 ms ahead on the real clock: the loop sleeps in Qt until then
    # instead of asking the selector (which never waits) again and again.
    class RealClockBaseLoop(qtinter.QiBaseEventLoop):
        def __init__(self) -> None:
            super().__init__()
            self._selector = FakeSelector()

        def _process_events(self, event_list: list[Any]) -> None:
            pass

        def _write_to_self(self) -> None:
            pass

    loop = RealClockBaseLoop()
    selector = loop._selector

    async def main() -> None:
        await asyncio.sleep(0.05)

    run(mode, main, loop_factory=lambda: loop)
    # Each select the loop made while waiting was a poll (timeout 0), and there were few of them.
    waits = [t for t in selector.timeouts if t]
    assert all(t <= qtinter._base_events.SPIN_LIMIT for t in waits), waits
    # (The fake selector never waits: only the sub-millisecond rest of the wait is spent calling
    # it, where a stock loop would call it for the whole 50 ms.)
    assert len(selector.timeouts) < 1000, len(selector.timeouts)


def test_a_loop_driven_by_hand_iterates_as_asyncios() -> None:
    # The primitives 3.13 gives custom loops (_run_forever_setup, _run_once, _run_forever_cleanup;
    # qtinter._compat has them on every version): each _run_once is one asyncio iteration, also in
    # owner mode, never a Qt event loop (which would run until the guard stops it).
    from qtinter import _compat

    loop = qtinter.new_event_loop()
    guard = QtCore.QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.stop)
    guard.start(5000)
    ran: list[str] = []
    try:
        token = _compat.run_forever_setup(loop)
        assert asyncio.get_running_loop() is loop
        for i in range(3):  # (each with work to do: an idle iteration waits in select, as asyncio's)
            loop.call_soon(ran.append, i)
            loop._run_once()  # type: ignore[attr-defined]
        _compat.run_forever_cleanup(loop, token)
        assert not loop.is_running()
        assert ran == [0, 1, 2]
        assert guard.isActive()  # no Qt loop ran
    finally:
        guard.stop()
        loop.close()
