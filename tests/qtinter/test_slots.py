"""asyncslot: coroutine functions as Qt slots, driven by real widgets and signals offscreen."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import sys
import warnings
import weakref
from typing import Any

import pytest
from interop_support import MODES, process_deferred_deletes, run, run_owner, signal_connected, wait_until
from pytestqt.qt_compat import qt_api

import qtinter

QtCore = qt_api.QtCore
QtWidgets = qt_api.QtWidgets

pytestmark = pytest.mark.usefixtures("qapp")


class Emitter(QtCore.QObject):  # type: ignore[misc]
    none = qt_api.Signal()
    one = qt_api.Signal(int)
    two = qt_api.Signal(int, str)


class Handler:
    """An exception handler that records contexts instead of logging them."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)

    def install(self) -> Handler:
        asyncio.get_running_loop().set_exception_handler(self)
        return self


# ---------------------------------------------------------------------------------------------------
# Eager first step, driven by a real button


@MODES
def test_click_runs_first_step_at_once_and_rest_later(mode: str) -> None:
    async def main() -> list[object]:
        button = QtWidgets.QPushButton("Send order")
        seen: list[object] = []
        done = asyncio.get_running_loop().create_future()

        async def send_order() -> None:
            button.setEnabled(False)  # must happen before click() returns
            await asyncio.sleep(0.01)
            button.setEnabled(True)
            done.set_result(None)

        button.clicked.connect(qtinter.asyncslot(send_order))

        def click() -> None:  # called by Qt, outside any asyncio callback
            button.click()
            seen.append(button.isEnabled())

        QtCore.QTimer.singleShot(0, click)
        await done
        seen.append(button.isEnabled())
        return seen

    assert run(mode, main) == [False, True]


@MODES
def test_a_real_mouse_click_runs_the_slot(mode: str) -> None:
    """A mouse press and release delivered through Qt's event system (QTest), not click()."""

    async def main() -> list[object]:
        window = QtWidgets.QWidget()
        button = QtWidgets.QPushButton("Go", window)
        window.show()
        seen: list[object] = []
        done = asyncio.get_running_loop().create_future()

        async def go() -> None:
            button.setEnabled(False)
            await asyncio.sleep(0)
            button.setEnabled(True)
            done.set_result(None)

        button.clicked.connect(qtinter.asyncslot(go))

        def press() -> None:
            qt_api.QtTest.QTest.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
            seen.append(button.isEnabled())

        QtCore.QTimer.singleShot(0, press)
        await done
        window.close()
        return seen

    assert run(mode, main) == [False]


@MODES
def test_returns_the_task_with_its_result(mode: str) -> None:
    async def main() -> None:
        async def compute(x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        task = qtinter.asyncslot(compute)(21)
        assert isinstance(task, asyncio.Task)
        assert await task == 42

    run(mode, main)


@MODES
def test_task_runner_starts_the_task_another_way(mode: str) -> None:
    async def main() -> list[str]:
        steps: list[str] = []

        async def work() -> str:
            steps.append("first step")
            return "done"

        task = qtinter.asyncslot(work, task_runner=asyncio.ensure_future)()
        steps.append("returned")  # ensure_future only schedules: nothing ran yet
        assert await task == "done"
        return steps

    assert run(mode, main) == ["returned", "first step"]


@MODES
def test_signal_arguments_are_trimmed_to_what_the_slot_accepts(mode: str) -> None:
    async def main() -> list[tuple[Any, ...]]:
        calls: list[tuple[Any, ...]] = []

        async def takes_none() -> None:
            calls.append(())

        async def takes_one(x: int) -> None:
            calls.append((x,))

        async def takes_all(*args: Any) -> None:
            calls.append(args)

        async def takes_default(x: int, y: str = "default") -> None:
            calls.append((x, y))

        emitter = Emitter()
        for fn in (takes_none, takes_one, takes_all, takes_default):
            emitter.two.connect(qtinter.asyncslot(fn))
        emitter.two.emit(7, "seven")

        button = QtWidgets.QPushButton()
        button.setCheckable(True)
        button.clicked.connect(qtinter.asyncslot(takes_none))
        button.clicked.connect(qtinter.asyncslot(takes_one))
        button.click()
        return calls

    assert run(mode, main) == [(), (7,), (7, "seven"), (7, "seven"), (), (True,)]


@MODES
def test_any_callable_that_returns_a_coroutine(mode: str) -> None:
    """``asyncslot(lambda: fetch(url))``: the callable is called with the signal's arguments."""

    async def main() -> list[Any]:
        steps: list[Any] = []

        async def fetch(url: str, checked: object = None) -> str:
            steps.append(("fetching", url))
            await asyncio.sleep(0)
            return f"fetched {url}"

        button = QtWidgets.QPushButton()
        button.clicked.connect(qtinter.asyncslot(lambda: fetch("https://example.org/")))
        button.click()  # the first step runs inside click()
        steps.append("clicked")
        task = qtinter.asyncslot(lambda url: fetch(url))("https://example.com/")
        steps.append(await task)
        return steps

    assert run(mode, main) == [
        ("fetching", "https://example.org/"),
        "clicked",
        ("fetching", "https://example.com/"),
        "fetched https://example.com/",
    ]


def test_the_default_task_runner_is_qtinter_run_task() -> None:
    assert inspect.signature(qtinter.asyncslot).parameters["task_runner"].default is qtinter.run_task


# ---------------------------------------------------------------------------------------------------
# What can be wrapped


class Receiver:
    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    async def method(self, value: int) -> None:
        self.calls.append(("method", value))

    @classmethod
    async def cmethod(cls, value: int) -> None:
        CLASS_CALLS.append(("cmethod", cls.__name__, value))

    @staticmethod
    async def smethod(value: int) -> None:
        CLASS_CALLS.append(("smethod", value))


CLASS_CALLS: list[tuple[Any, ...]] = []


class AsyncCallable:
    """An object whose __call__ is a coroutine function."""

    async def __call__(self, value: int) -> None:
        CLASS_CALLS.append(("callable", value))


class Decorated:
    """asyncslot applied to staticmethod/classmethod objects (decorator order)."""

    @qtinter.asyncslot
    @staticmethod
    async def static(value: int) -> None:
        CLASS_CALLS.append(("decorated static", value))

    @qtinter.asyncslot
    @classmethod
    async def klass(cls, value: int) -> None:
        CLASS_CALLS.append(("decorated class", cls.__name__, value))


class QtReceiver(QtCore.QObject):  # type: ignore[misc]
    """Slots decorated with Slot/pyqtSlot, in both orders."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.calls = calls

    @qt_api.Slot(int)
    async def slot_then_coroutine(self, value: int) -> None:
        self.calls.append(("slot-outer", value))

    @qt_api.Slot(int)
    @qtinter.asyncslot
    async def slot_of_asyncslot(self, value: int) -> None:
        self.calls.append(("asyncslot-inner", value))


class ScheduledOnly:
    """staticmethod and classmethod objects wrapped with a task runner that only schedules."""

    @functools.partial(qtinter.asyncslot, task_runner=asyncio.ensure_future)
    @staticmethod
    async def static(steps: list[str]) -> None:
        steps.append("static ran")

    @functools.partial(qtinter.asyncslot, task_runner=asyncio.ensure_future)
    @classmethod
    async def klass(cls, steps: list[str]) -> None:
        steps.append(f"{cls.__name__} ran")


@MODES
def test_staticmethod_and_classmethod_keep_their_task_runner(mode: str) -> None:
    async def main() -> list[str]:
        steps: list[str] = []
        tasks = [ScheduledOnly.static(steps), ScheduledOnly().klass(steps)]
        steps.append("returned")  # ensure_future only scheduled them: nothing ran yet
        await asyncio.gather(*tasks)
        return steps

    assert run(mode, main) == ["returned", "static ran", "ScheduledOnly ran"]


@MODES
def test_wraps_methods_partials_and_decorated_slots(mode: str) -> None:
    async def free(prefix: str, value: int) -> None:
        calls.append((prefix, value))

    calls: list[tuple[Any, ...]] = []
    CLASS_CALLS.clear()

    async def main() -> None:
        emitter = Emitter()
        receiver = Receiver(calls)
        qt_receiver = QtReceiver(calls)
        emitter.one.connect(qtinter.asyncslot(receiver.method))
        emitter.one.connect(qtinter.asyncslot(Receiver.cmethod))
        emitter.one.connect(qtinter.asyncslot(receiver.smethod))
        emitter.one.connect(qtinter.asyncslot(functools.partial(free, "partial")))
        emitter.one.connect(qtinter.asyncslot(qt_receiver.slot_then_coroutine))
        emitter.one.connect(qt_receiver.slot_of_asyncslot)
        emitter.one.connect(qtinter.asyncslot(AsyncCallable()))
        emitter.one.connect(Decorated.static)
        emitter.one.connect(Decorated().klass)
        emitter.one.emit(3)
        await asyncio.sleep(0)

    run(mode, main)
    assert calls == [("method", 3), ("partial", 3), ("slot-outer", 3), ("asyncslot-inner", 3)]
    assert CLASS_CALLS == [
        ("cmethod", "Receiver", 3),
        ("smethod", 3),
        ("callable", 3),
        ("decorated static", 3),
        ("decorated class", "Decorated", 3),
    ]


# ---------------------------------------------------------------------------------------------------
# The lifetime of a bound method's wrapper


class PlainQtReceiver(QtCore.QObject):  # type: ignore[misc]
    """A QObject receiver whose coroutine method carries no Slot/pyqtSlot decoration."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.calls = calls

    async def method(self, value: int) -> None:
        self.calls.append(("qt method", value))


RECEIVERS = {
    "python": lambda calls: Receiver(calls).method,
    "qobject": lambda calls: PlainQtReceiver(calls).method,
    "decorated qobject": lambda calls: QtReceiver(calls).slot_then_coroutine,
}
receiver_kinds = pytest.mark.parametrize("kind", sorted(RECEIVERS))


@receiver_kinds
def test_a_wrapper_held_by_the_caller_keeps_its_receiver_alive(kind: str) -> None:
    async def main() -> list[tuple[Any, ...]]:
        calls: list[tuple[Any, ...]] = []
        method = RECEIVERS[kind](calls)
        alive = weakref.ref(method.__self__)
        slot = qtinter.asyncslot(method)
        del method
        gc.collect()
        assert alive() is not None  # the wrapper is all that references it
        await slot(5)
        del slot
        gc.collect()
        assert alive() is None  # and once the wrapper goes, nothing keeps it
        return calls

    assert len(run_owner(main)) == 1


@receiver_kinds
def test_a_connected_wrapper_lives_as_long_as_its_receiver_and_no_longer(kind: str) -> None:
    """A thousand receivers connected through asyncslot and deleted leave no connection behind."""

    async def main() -> list[tuple[Any, ...]]:
        calls: list[tuple[Any, ...]] = []
        emitter = Emitter()
        methods = [RECEIVERS[kind](calls) for _ in range(1000)]
        for method in methods:
            emitter.one.connect(qtinter.asyncslot(method))  # the wrapper is not kept by anyone
        gc.collect()
        emitter.one.emit(1)  # every receiver is alive: every one is called
        await asyncio.sleep(0)
        assert len(calls) == 1000
        del methods, method
        gc.collect()
        emitter.one.emit(2)  # nothing is called (PyQt notices its dead receivers here)
        await asyncio.sleep(0)
        process_deferred_deletes()
        assert not signal_connected(emitter, "one")  # the connections went with their receivers
        return calls

    assert len(run_owner(main)) == 1000


@pytest.mark.parametrize("kind", ["qobject", "decorated qobject"])
def test_a_receiver_whose_cpp_object_is_deleted_is_not_called(kind: str) -> None:
    """As with a plain Qt connection: the Python object lives on, its C++ object is gone."""

    async def main() -> list[tuple[Any, ...]]:
        calls: list[tuple[Any, ...]] = []
        emitter = Emitter()
        connected = RECEIVERS[kind](calls)
        emitter.one.connect(qtinter.asyncslot(connected))
        held_method = RECEIVERS[kind](calls)
        held = qtinter.asyncslot(held_method)  # this wrapper is kept by the caller
        emitter.one.connect(held)
        emitter.one.emit(1)
        await asyncio.sleep(0)
        assert len(calls) == 2
        receivers = [connected.__self__, held_method.__self__]  # the Python objects stay alive
        for receiver in receivers:
            receiver.deleteLater()
        process_deferred_deletes()
        gc.collect()
        emitter.one.emit(2)  # neither is called
        task = held(3)  # called after its receiver's C++ object died: a no-op, reported as cancelled
        await asyncio.sleep(0)
        assert task.cancelled()
        emitter.one.disconnect(held)
        process_deferred_deletes()
        assert not signal_connected(emitter, "one")  # the other connection went with its receiver
        return calls

    assert len(run_owner(main)) == 2


def test_a_receiver_that_cannot_be_weakly_referenced_is_a_type_error() -> None:
    class Slotted:
        __slots__ = ()

        async def method(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"Slotted object cannot be weakly referenced.*__weakref__"):
        qtinter.asyncslot(Slotted().method)


# ---------------------------------------------------------------------------------------------------
# Errors


def test_what_cannot_be_wrapped_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"coroutine function .* or a callable that returns a coroutine"):
        qtinter.asyncslot(42)  # type: ignore[arg-type]

    async def work() -> None:
        pass

    with pytest.raises(TypeError, match=r"task_runner=.*needs a callable .* got 42"):
        qtinter.asyncslot(work, task_runner=42)  # type: ignore[arg-type]


@MODES
def test_a_callable_that_returns_no_coroutine_is_a_type_error_when_called(mode: str) -> None:
    def plain(value: int) -> int:
        return value

    async def main() -> None:
        slot = qtinter.asyncslot(plain)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"asyncslot .*plain: calling it returned 7, not a coroutine"):
            slot(7)

    run(mode, main)


@MODES
def test_bad_arguments_are_a_type_error_at_call_time(mode: str) -> None:
    async def main() -> None:
        async def needs_two(a: int, b: int) -> None:
            pass

        slot = qtinter.asyncslot(needs_two)
        before = len(asyncio.all_tasks())
        with pytest.raises(TypeError):
            slot(1)
        with pytest.raises(TypeError):
            slot(1, 2, c=3)
        with pytest.raises(TypeError):
            slot(1, 2, 3)  # called directly, it takes what the coroutine function takes
        assert len(asyncio.all_tasks()) == before

    run(mode, main)


def test_bad_arguments_name_the_coroutine_functions_own_parameters() -> None:
    async def resize(width: int, height: int) -> None:
        pass

    async def main() -> list[str]:
        messages = []
        for call in (
            lambda: qtinter.asyncslot(resize)(640),
            lambda: qtinter.asyncslot(Receiver([]).method)(),
        ):
            with pytest.raises(TypeError) as info:
                call()
            messages.append(str(info.value).rpartition(".")[2])
        return messages

    assert run_owner(main) == [
        "resize() missing 1 required positional argument: 'height'",
        "method() missing 1 required positional argument: 'value'",
    ]


def _no_coroutine_leak_warnings(record: list[warnings.WarningMessage]) -> None:
    gc.collect()
    assert not [w for w in record if "never awaited" in str(w.message)]


def test_no_running_loop_is_a_runtime_error_that_names_the_fix() -> None:
    async def work() -> None:
        pass

    slot = qtinter.asyncslot(work)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(
            RuntimeError, match=r"using_asyncio_from_qt\(\).*loop_factory=qtinter.new_event_loop"
        ):
            slot()
        _no_coroutine_leak_warnings(record)


def test_asyncslot_works_on_any_running_asyncio_loop() -> None:
    """As in the public qtinter: its default task runner needs a running loop, not a qtinter one."""

    async def main() -> list[str]:
        steps: list[str] = []

        async def work() -> str:
            steps.append("first step")
            await asyncio.sleep(0)
            return "done"

        task = qtinter.asyncslot(work)()
        steps.append("returned")
        steps.append(await task)
        return steps

    assert asyncio.run(main()) == ["first step", "returned", "done"]


@MODES
def test_exception_goes_to_the_exception_handler_with_the_slot_name(mode: str) -> None:
    async def main() -> list[dict[str, Any]]:
        handler = Handler().install()
        button = QtWidgets.QPushButton()

        async def fails_at_once() -> None:
            raise ValueError("first step")

        async def fails_later() -> None:
            await asyncio.sleep(0)
            raise KeyError("later")

        button.clicked.connect(qtinter.asyncslot(fails_at_once))
        button.clicked.connect(qtinter.asyncslot(fails_later))
        QtCore.QTimer.singleShot(0, button.click)  # from Qt: PyQt would abort on an escaping error
        await wait_until(lambda: len(handler.contexts) == 2, "both slots' errors are reported")
        return handler.contexts

    contexts = run(mode, main)
    assert [type(c["exception"]) for c in contexts] == [ValueError, KeyError]
    assert "fails_at_once" in contexts[0]["message"]
    assert "fails_later" in contexts[1]["message"]
    assert all(isinstance(c["task"], asyncio.Task) for c in contexts)


@MODES
def test_a_pending_slot_task_is_not_garbage_collected(mode: str) -> None:
    """Qt drops the task a slot returns; asyncio holds tasks weakly: asyncslot must keep it."""

    async def main() -> None:
        async def waits_on_its_own_future() -> None:
            await asyncio.get_running_loop().create_future()  # referenced by nothing but this task

        task = weakref.ref(qtinter.asyncslot(waits_on_its_own_future)())
        gc.collect()
        alive = task()
        assert alive is not None
        assert not alive.done()
        alive.cancel()
        await asyncio.sleep(0)
        assert alive.cancelled()

    run(mode, main)


@MODES
def test_cancelled_slot_task_is_not_reported(mode: str) -> None:
    async def main() -> list[dict[str, Any]]:
        handler = Handler().install()

        async def forever() -> None:
            await asyncio.Event().wait()

        async def cancels_itself() -> None:
            await asyncio.sleep(0)
            raise asyncio.CancelledError

        task = qtinter.asyncslot(forever)()
        own = qtinter.asyncslot(cancels_itself)()
        await asyncio.sleep(0)
        task.cancel()
        # A report is a done callback (scheduled as the task ends, before the waiter's own callback
        # that resumes this coroutine): once both tasks are done and this runs again, it would be in.
        await asyncio.wait([task, own])
        assert task.cancelled()
        assert own.cancelled()
        return handler.contexts

    assert run(mode, main) == []


# ---------------------------------------------------------------------------------------------------
# Nesting: a slot called while a task is running


def _nesting_main() -> Any:
    async def main() -> list[str]:
        order: list[str] = []
        outer = asyncio.current_task()
        emitter = Emitter()

        ended = asyncio.Event()

        async def slot(value: int) -> None:
            inner = asyncio.current_task()
            assert inner is not None
            assert inner is not outer
            order.append(f"slot start {value}")
            await asyncio.sleep(0)
            assert asyncio.current_task() is inner
            order.append(f"slot end {value}")
            ended.set()

        emitter.one.connect(qtinter.asyncslot(slot))  # direct connection: runs inside this task
        emitter.one.emit(1)
        assert asyncio.current_task() is outer
        order.append("emitted")
        child = asyncio.create_task(asyncio.sleep(0))  # the loop still works normally inside the task
        await child
        await ended.wait()
        return order

    return main


@MODES
def test_slot_called_from_a_running_task_nests(mode: str) -> None:
    assert run(mode, _nesting_main()) == ["slot start 1", "emitted", "slot end 1"]


@MODES
@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is new in 3.12")
def test_nesting_with_eager_task_factory(mode: str) -> None:
    inner = _nesting_main()

    async def main() -> list[str]:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        try:
            return await inner()  # type: ignore[no-any-return]
        finally:
            asyncio.get_running_loop().set_task_factory(None)

    assert run(mode, main) == ["slot start 1", "emitted", "slot end 1"]


def test_slot_disconnects_cleanly() -> None:
    async def main() -> None:
        emitter = Emitter()

        async def slot() -> None:
            pass

        wrapped = qtinter.asyncslot(slot)
        emitter.none.connect(wrapped)
        assert signal_connected(emitter, "none")
        emitter.none.disconnect(wrapped)
        assert not signal_connected(emitter, "none")

    run_owner(main)
