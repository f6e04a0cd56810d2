"""Helpers of the vsengine-qt tests (the binding is imported by conftest.py before this module)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import qtinter

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

#: Seconds any single awaited step of a test may take before the test fails instead of hanging.
STEP_TIMEOUT = 20.0


def exec_app(app: Any, timeout: float = STEP_TIMEOUT) -> None:
    """``app.exec()``, ended by ``app.quit()`` after ``timeout`` seconds at the latest. The bound is
    cancelled once exec returns: a late ``quit()`` would end the event loop running then (on Qt 5
    any loop, e.g. a later test's asyncio loop)."""
    from vsengine_qt._qt import QtCore, exec_

    bound = QtCore.QTimer()
    bound.setSingleShot(True)
    bound.timeout.connect(app.quit)
    bound.start(int(timeout * 1000))
    try:
        exec_(app)
    finally:
        bound.stop()


def run[T](coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on a qtinter loop in owner mode (asyncio drives Qt's loop), failing after ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout), loop_factory=qtinter.new_event_loop)


async def wait_for_signal(signal: Any, timeout: float = STEP_TIMEOUT) -> tuple[Any, ...]:
    """The arguments of the next emission of ``signal``."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def slot(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(slot)
    try:
        return await asyncio.wait_for(future, timeout)
    finally:
        signal.disconnect(slot)


def next_emission(signal: Any) -> asyncio.Future[tuple[Any, ...]]:
    """The arguments of the next emission of ``signal``, connected at once: for a signal that may
    come before the test gets to await it (a frame shown right after ``loaded``)."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def slot(*args: Any) -> None:
        if not future.done():
            future.set_result(args)
        signal.disconnect(slot)

    signal.connect(slot)
    return future


def in_thread[T](func: Callable[[], T]) -> Future[T]:
    """Run ``func`` in a new thread; the future of its outcome."""
    future: Future[T] = Future()

    def work() -> None:
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, daemon=True).start()
    return future


class Gate:
    """A threading.Event a test script (running in this process) waits on, and a count of the
    times the script got there: the test opens it when it has seen what it waits for."""

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()
        self.arrived = threading.Semaphore(0)
        self.arrivals = 0

    def wait(self) -> None:
        """Called by the script (any thread): block until the test opens the gate."""
        self.arrivals += 1
        self.arrived.release()
        if not self.event.wait(STEP_TIMEOUT * 3):
            raise TimeoutError("the test never opened the gate")

    async def reached(self) -> None:
        """Wait (without blocking the loop) until the script is at the gate."""
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.arrived.acquire, True, STEP_TIMEOUT):
            raise TimeoutError("the script never reached the gate")

    def open(self) -> None:
        self.event.set()


#: Gates by name, for scripts: ``import vsqt_helpers; vsqt_helpers.GATES["x"].wait()``.
GATES: dict[str, Gate] = {}


async def wait_until(predicate: Any, timeout: float = STEP_TIMEOUT) -> None:
    """Wait, one loop turn at a time, until ``predicate()`` holds (for state that has no signal)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"{predicate} did not become true")
        await asyncio.sleep(0.005)
