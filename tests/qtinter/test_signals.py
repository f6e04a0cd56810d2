"""asyncsignal, asyncsignalstream and multisignal on real signals, offscreen."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from interop_support import MODES, process_deferred_deletes, run, run_owner, signal_connected
from loop_support import SCRIPT_PRELUDE, run_script
from pytestqt.qt_compat import qt_api

import qtinter
from qtinter._signals import COPIED_TYPES, SignalStream
from qtinter.bindings import __binding__

QtCore = qt_api.QtCore
QtGui = qt_api.QtGui
QtWidgets = qt_api.QtWidgets

#: PySide2 connects a slot that could take any number of arguments to the overload of a signal with
#: default arguments that has none: its ``clicked`` gives no ``checked`` (``clicked[bool]`` does).
CHECKED_ARG = __binding__ != "PySide2"

pytestmark = pytest.mark.usefixtures("qapp")


class Emitter(QtCore.QObject):  # type: ignore[misc]
    none = qt_api.Signal()
    one = qt_api.Signal(int)
    two = qt_api.Signal(int, str)
    point = qt_api.Signal(QtCore.QPoint)
    anything = qt_api.Signal(object)


def later(fn: Any, *args: Any) -> None:
    """Call fn(*args) from a Qt timer, i.e. from Qt and not from an asyncio callback."""
    QtCore.QTimer.singleShot(0, lambda: fn(*args))


# ---------------------------------------------------------------------------------------------------
# asyncsignal


@MODES
def test_result_is_none_the_value_or_a_tuple(mode: str) -> None:
    async def main() -> list[Any]:
        emitter = Emitter()
        payload = object()
        results = []
        for signal, args in (
            (emitter.none, ()),
            (emitter.one, (5,)),
            (emitter.two, (5, "five")),
            (emitter.anything, (payload,)),
        ):
            later(signal.emit, *args)
            results.append(await qtinter.asyncsignal(signal))
        assert results[3] is payload  # Python objects are passed on, not copied
        return results[:3]

    assert run(mode, main) == [None, 5, (5, "five")]


@MODES
def test_awaits_a_real_button_click(mode: str) -> None:
    async def main() -> Any:
        button = QtWidgets.QPushButton()
        button.setCheckable(True)
        later(button.click)
        return await qtinter.asyncsignal(button.clicked)

    assert run(mode, main) is (True if CHECKED_ARG else None)


@MODES
def test_only_the_next_emission_is_taken_and_then_disconnected(mode: str) -> None:
    async def main() -> Any:
        emitter = Emitter()

        def burst() -> None:
            for value in (1, 2, 3):
                emitter.one.emit(value)

        later(burst)
        value = await qtinter.asyncsignal(emitter.one)
        assert not signal_connected(emitter, "one")
        return value

    assert run(mode, main) == 1


@MODES
def test_value_types_are_copied_so_they_outlive_the_emission(mode: str) -> None:
    async def main() -> None:
        emitter = Emitter()
        point = QtCore.QPoint(1, 2)
        later(emitter.point.emit, point)
        received = await qtinter.asyncsignal(emitter.point)
        assert received == QtCore.QPoint(1, 2)
        assert received is not point
        point.setX(99)  # the sender reusing its object does not change what we got
        assert received == QtCore.QPoint(1, 2)

        # Emitted by C++ with a const reference: PyQt wraps the emitter's own object.
        dialog = QtWidgets.QColorDialog()
        dialog.setOption(QtWidgets.QColorDialog.ColorDialogOption.DontUseNativeDialog)
        later(dialog.setCurrentColor, QtGui.QColor("red"))
        color = await qtinter.asyncsignal(dialog.currentColorChanged)
        dialog.setCurrentColor(QtGui.QColor("blue"))
        del dialog
        gc.collect()
        assert isinstance(color, QtGui.QColor)
        assert color.name() == "#ff0000"

    run(mode, main)
    assert {"QPoint", "QColor", "QByteArray", "QModelIndex"} <= COPIED_TYPES


@MODES
def test_destroyed_sender_raises_instead_of_hanging(mode: str) -> None:
    async def main() -> None:
        # A Python-owned sender that goes away ...
        emitter = Emitter()
        waiting = asyncio.ensure_future(qtinter.asyncsignal(emitter.one))
        await asyncio.sleep(0)
        del emitter
        gc.collect()
        process_deferred_deletes()
        with pytest.raises(qtinter.SenderDestroyedError, match="destroyed"):
            await asyncio.wait_for(waiting, 10)

        # ... and a C++-owned one deleted with its parent.
        parent = QtWidgets.QWidget()
        button = QtWidgets.QPushButton(parent)
        waiting = asyncio.ensure_future(qtinter.asyncsignal(button.clicked))
        await asyncio.sleep(0)
        later(parent.deleteLater)
        with pytest.raises(qtinter.SenderDestroyedError):
            await asyncio.wait_for(waiting, 10)

    run(mode, main)


@MODES
def test_cancelling_disconnects(mode: str) -> None:
    async def main() -> None:
        emitter = Emitter()
        waiting = asyncio.ensure_future(qtinter.asyncsignal(emitter.one))
        await asyncio.sleep(0)
        assert signal_connected(emitter, "one")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not signal_connected(emitter, "one")
        emitter.one.emit(1)  # nothing left to receive it

    run(mode, main)


@MODES
def test_the_connection_is_made_by_the_call_not_by_the_first_await(mode: str) -> None:
    async def main() -> Any:
        emitter = Emitter()
        waiting = qtinter.asyncsignal(emitter.one)
        assert signal_connected(emitter, "one")
        emitter.one.emit(3)  # before anyone awaits: not missed
        return await waiting

    assert run(mode, main) == 3


@MODES
def test_a_wait_that_is_never_awaited_disconnects_when_collected(mode: str) -> None:
    async def main() -> None:
        emitter = Emitter()
        waiting = qtinter.asyncsignal(emitter.one)
        assert signal_connected(emitter, "one")
        waiting.close()  # dropped without being awaited
        del waiting
        gc.collect()
        assert not signal_connected(emitter, "one")

    run(mode, main)


#: A sender deleted right after asyncsignal() was called, before the wait's first step: PyQt6
#: crashed (SIGSEGV) on the first iteration or few when the connection was made by that step.
DELETED_SENDER = """
app = QtCore.QCoreApplication([])

async def main():
    outcomes = set()
    for _ in range(200):
        timer = QtCore.QTimer()
        waiting = asyncio.ensure_future(asyncio.wait_for(qtinter.asyncsignal(timer.timeout), 10))
        del timer  # destroys the QObject: no garbage collection needed (one took 55 ms here)
        try:
            await waiting
            outcomes.add("emitted")
        except qtinter.SenderDestroyedError:
            outcomes.add("SenderDestroyedError")
    print(sorted(outcomes))

loop = qtinter.new_event_loop()
loop.run_until_complete(main())
loop.close()
"""


def test_a_sender_deleted_before_the_wait_starts_fails_the_wait_without_a_crash() -> None:
    # 200 deletions in a fresh process: the old code, which connected at the first await, crashed
    # PyQt5 (SIGSEGV) and made PySide6 raise TypeError in every such process.
    result = run_script(SCRIPT_PRELUDE + DELETED_SENDER)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert result.stdout.split("\n")[0] == "['SenderDestroyedError']", result.stdout


def test_not_a_signal_is_a_type_error() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="bound Qt signal"):
            await qtinter.asyncsignal(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="bound Qt signal"):
            qtinter.asyncsignalstream("clicked")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="bound Qt signal"):
            qtinter.multisignal({"a": 1})

    run_owner(main)


# ---------------------------------------------------------------------------------------------------
# asyncsignalstream


@MODES
def test_stream_yields_every_emission_in_order(mode: str) -> None:
    async def main() -> list[Any]:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.two)

        def burst() -> None:
            for value in range(5):
                emitter.two.emit(value, str(value))

        later(burst)
        got = []
        async for item in stream:
            got.append(item)
            if len(got) == 5:
                break
        await stream.aclose()
        assert not signal_connected(emitter, "two")
        return got

    assert run(mode, main) == [(i, str(i)) for i in range(5)]


@MODES
def test_stream_drives_from_a_qt_timer(mode: str) -> None:
    async def main() -> int:
        timer = QtCore.QTimer()
        timer.setInterval(1)
        ticks = 0
        async with qtinter.asyncsignalstream(timer.timeout) as stream:
            timer.start()
            async for value in stream:
                assert value is None
                ticks += 1
                if ticks == 5:
                    break
        timer.stop()
        return ticks

    assert run(mode, main) == 5


@MODES
def test_bounded_stream_drops_the_oldest_and_counts(mode: str) -> None:
    async def main() -> tuple[list[Any], int]:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.one, maxsize=2)
        for value in range(5):
            emitter.one.emit(value)
        got = [await stream.__anext__(), await stream.__anext__()]
        stream.close()
        return got, stream.dropped

    assert run(mode, main) == ([3, 4], 3)


@MODES
def test_bounded_stream_can_fail_on_overflow(mode: str) -> None:
    async def main() -> list[Any]:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.one, maxsize=2, overflow="error")
        for value in range(3):
            emitter.one.emit(value)
        assert not signal_connected(emitter, "one")
        got = [await stream.__anext__(), await stream.__anext__()]
        with pytest.raises(OverflowError, match="more than 2"):
            await stream.__anext__()
        return got

    assert run(mode, main) == [0, 1]


def test_stream_bad_arguments() -> None:
    async def main() -> None:
        emitter = Emitter()
        with pytest.raises(ValueError, match="maxsize"):
            qtinter.asyncsignalstream(emitter.one, maxsize=-1)
        with pytest.raises(ValueError, match="overflow"):
            qtinter.asyncsignalstream(emitter.one, overflow="block")  # type: ignore[arg-type]
        assert not signal_connected(emitter, "one")

    run_owner(main)


@MODES
def test_aclose_disconnects_and_ends_a_waiting_consumer(mode: str) -> None:
    async def main() -> list[Any]:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.one)

        async def consume() -> list[Any]:
            return [item async for item in stream]

        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        emitter.one.emit(1)
        await asyncio.sleep(0)
        await stream.aclose()
        assert not signal_connected(emitter, "one")
        emitter.one.emit(2)
        return await asyncio.wait_for(consumer, 10)

    assert run(mode, main) == [1]


@MODES
def test_stream_ends_when_the_sender_is_destroyed(mode: str) -> None:
    async def main() -> list[Any]:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.one)
        emitter.one.emit(1)
        emitter.one.emit(2)
        later(emitter.deleteLater)
        del emitter
        return await asyncio.wait_for(_collect(stream), 10)

    assert run(mode, main) == [1, 2]


async def _collect(stream: SignalStream) -> list[Any]:
    return [item async for item in stream]


@MODES
def test_abandoned_stream_disconnects_when_collected(mode: str) -> None:
    async def main() -> None:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.one)
        emitter.one.emit(1)
        async for _ in stream:
            break  # `break` does not close an async iterator
        assert signal_connected(emitter, "one")
        del stream
        gc.collect()
        assert not signal_connected(emitter, "one")

    run(mode, main)


@MODES
def test_two_consumers_at_once_is_an_error(mode: str) -> None:
    async def main() -> None:
        emitter = Emitter()
        stream = qtinter.asyncsignalstream(emitter.one)
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="another task"):
            await stream.__anext__()
        emitter.one.emit(7)
        assert await first == 7
        stream.close()

    run(mode, main)


# ---------------------------------------------------------------------------------------------------
# multisignal


@MODES
def test_multisignal_tags_each_emission_with_its_signals_tag(mode: str) -> None:
    async def main() -> list[Any]:
        a, b = Emitter(), Emitter()
        button = QtWidgets.QPushButton()
        signals = qtinter.multisignal({a.two: "a", b.none: "b", button.clicked: "button"})
        later(b.none.emit)
        first = await qtinter.asyncsignal(signals)
        got = [first]
        async with qtinter.asyncsignalstream(signals) as stream:
            a.two.emit(1, "x")
            button.click()
            b.none.emit()
            for _ in range(3):
                got.append(await stream.__anext__())
        # It stays connected while it exists (it can be awaited again), and no longer.
        assert signal_connected(a, "two")
        del signals, stream
        gc.collect()
        assert not signal_connected(a, "two")
        assert not signal_connected(b, "none")
        return got

    checked = False if CHECKED_ARG else None
    assert run(mode, main) == [("b", None), ("a", (1, "x")), ("button", checked), ("b", None)]


def test_multisignal_refuses_a_mapping_of_tags_to_signals_with_the_fix() -> None:
    emitter = Emitter()
    with pytest.raises(TypeError, match=r"takes \{signal: tag, \.\.\.\}.*swap its keys and values"):
        qtinter.multisignal({"a": emitter.one})


@MODES
def test_multisignal_connect_and_disconnect_slots(mode: str) -> None:
    async def main() -> list[Any]:
        a, b = Emitter(), Emitter()
        signals = qtinter.multisignal({a.one: 1, b.one: 2})
        calls: list[Any] = []

        def slot(tag: int, value: int) -> None:
            calls.append((tag, value))

        async def async_slot(tag: int, value: int) -> None:
            calls.append(("async", tag, value))

        signals.connect(slot)
        signals.connect(qtinter.asyncslot(async_slot))
        a.one.emit(10)
        b.one.emit(20)
        signals.disconnect(slot)
        a.one.emit(30)
        signals.disconnect()
        a.one.emit(40)
        with pytest.raises(ValueError, match="not connected"):
            signals.disconnect(slot)
        return calls

    assert run(mode, main) == [(1, 10), ("async", 1, 10), (2, 20), ("async", 2, 20), ("async", 1, 30)]


@MODES
def test_multisignal_fails_only_when_every_sender_is_gone(mode: str) -> None:
    """Waits for events only: each sender's death is observed through a probe that fails with it."""

    async def main() -> Any:
        a, b = Emitter(), Emitter()
        signals = qtinter.multisignal({a.one: "a", b.one: "b"})
        waiting = qtinter.asyncsignal(signals)
        a_gone = qtinter.asyncsignal(a.one)  # fails once a's death has been noticed
        del a
        gc.collect()
        process_deferred_deletes()
        with pytest.raises(qtinter.SenderDestroyedError):
            await asyncio.wait_for(a_gone, 10)
        b.one.emit(5)  # the multisignal was not failed by a's death: it delivers b's emission
        assert await waiting == ("b", 5)

        # The same multisignal, awaited again after a sender died (PyQt must not touch its signal).
        waiting = qtinter.asyncsignal(signals)
        later(b.one.emit, 6)
        assert await asyncio.wait_for(waiting, 10) == ("b", 6)

        waiting = qtinter.asyncsignal(signals)
        del b
        gc.collect()
        process_deferred_deletes()
        with pytest.raises(qtinter.SenderDestroyedError):
            await asyncio.wait_for(waiting, 10)
        with pytest.raises(qtinter.SenderDestroyedError):  # and at once from now on
            await asyncio.wait_for(qtinter.asyncsignal(signals), 10)

    run(mode, main)
