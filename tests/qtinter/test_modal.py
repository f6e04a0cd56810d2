"""modal: dialogs with nested Qt loops that do not stop asyncio, closed by real code offscreen."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from interop_support import MODES, exec_of, run, wait_until
from pytestqt.qt_compat import qt_api

import qtinter

if TYPE_CHECKING:
    from collections.abc import Callable

QtCore = qt_api.QtCore
QtWidgets = qt_api.QtWidgets

pytestmark = pytest.mark.usefixtures("qapp")

Accepted = QtWidgets.QDialog.DialogCode.Accepted
Rejected = QtWidgets.QDialog.DialogCode.Rejected
#: If asyncio stopped while a dialog is open, nothing would close it: a Qt timer rejects it instead
#: after this long, so a broken modal() fails the test (Rejected) instead of hanging it.
SAFETY_MS = 10_000


def _code(value: Any) -> int:
    return value if isinstance(value, int) else int(getattr(value, "value", value))


class Ticker:
    """An asyncio task counting its own wake-ups (asyncio timers firing)."""

    def __init__(self) -> None:
        self.count = 0
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            self.count += 1


def make_dialog() -> QtWidgets.QDialog:
    dialog = QtWidgets.QDialog()
    QtCore.QTimer.singleShot(SAFETY_MS, dialog.reject)
    return dialog


async def close_modal_when(ticker: Ticker, ticks: int, close: Callable[[Any], None]) -> None:
    """Once a modal widget is open, wait for *ticks* asyncio timer ticks, then close it."""
    await wait_until(lambda: QtWidgets.QApplication.activeModalWidget() is not None, "a dialog is open")
    widget = QtWidgets.QApplication.activeModalWidget()
    start = ticker.count
    await wait_until(lambda: ticker.count >= start + ticks, f"{ticks} ticks during the dialog")
    assert QtWidgets.QApplication.activeModalWidget() is widget  # still open while we ticked
    close(widget)


@MODES
def test_timers_keep_running_while_a_dialog_is_open(mode: str) -> None:
    async def main() -> tuple[int, int]:
        ticker = Ticker()
        dialog = make_dialog()
        closer = asyncio.ensure_future(close_modal_when(ticker, 5, lambda w: w.accept()))
        before = ticker.count
        result = await qtinter.modal(exec_of(dialog))()
        during = ticker.count - before
        await closer
        ticker.task.cancel()
        return _code(result), during

    result, during = run(mode, main)
    assert result == _code(Accepted)
    assert during >= 5


@MODES
def test_modal_from_the_eager_first_step_of_a_clicked_slot(mode: str) -> None:
    """The case qtinter #18 and qasync ("Cannot enter into task") fail."""

    async def main() -> list[Any]:
        ticker = Ticker()
        events: list[Any] = []
        finished = asyncio.get_running_loop().create_future()
        button = QtWidgets.QPushButton("Choose")

        async def on_click() -> None:
            button.setEnabled(False)
            dialog = make_dialog()
            result = await qtinter.modal(exec_of(dialog))()  # no await before: this is the eager step
            events.append(_code(result))
            button.setEnabled(True)
            finished.set_result(None)

        button.clicked.connect(qtinter.asyncslot(on_click))
        closer = asyncio.ensure_future(close_modal_when(ticker, 3, lambda w: w.reject()))
        QtCore.QTimer.singleShot(0, button.click)  # a click from Qt, as a user's would be
        await finished
        await closer
        # And once more with the click coming from inside a running task (a direct connection).
        finished = asyncio.get_running_loop().create_future()
        closer = asyncio.ensure_future(close_modal_when(ticker, 3, lambda w: w.accept()))
        button.click()
        events.append(button.isEnabled())
        await finished
        await closer
        ticker.task.cancel()
        return events

    assert run(mode, main) == [_code(Rejected), False, _code(Accepted)]


@MODES
def test_message_box_and_file_dialog(mode: str) -> None:
    async def main() -> tuple[Any, Any]:
        ticker = Ticker()
        yes = QtWidgets.QMessageBox.StandardButton.Yes
        no = QtWidgets.QMessageBox.StandardButton.No

        def click_yes(box: Any) -> None:
            box.button(yes).click()

        closer = asyncio.ensure_future(close_modal_when(ticker, 2, click_yes))
        answer = await qtinter.modal(QtWidgets.QMessageBox.question)(None, "Quit?", "Really quit?", yes | no)
        await closer

        closer = asyncio.ensure_future(close_modal_when(ticker, 2, lambda w: w.reject()))
        chosen = await qtinter.modal(QtWidgets.QFileDialog.getOpenFileName)(
            None, "Open", "", "", "", QtWidgets.QFileDialog.Option.DontUseNativeDialog
        )
        await closer
        ticker.task.cancel()
        return answer, chosen

    answer, chosen = run(mode, main)
    assert answer == QtWidgets.QMessageBox.StandardButton.Yes
    assert next(iter(chosen)) == ""


@MODES
def test_a_dialog_opened_while_another_is_open(mode: str) -> None:
    async def main() -> list[str]:
        ticker = Ticker()
        order: list[str] = []

        async def second() -> None:
            await wait_until(lambda: QtWidgets.QApplication.activeModalWidget() is first_dialog, "first open")
            # Named: with the dialog referenced only by its bound exec_(), PySide2 5.15 crashed here.
            second_dialog = make_dialog()
            await qtinter.modal(exec_of(second_dialog))()
            order.append("second closed")

        first_dialog = make_dialog()
        second_task = asyncio.ensure_future(second())
        closer_inner = asyncio.ensure_future(close_modal_when_not(first_dialog, ticker, lambda w: w.accept()))
        await qtinter.modal(exec_of(first_dialog))()
        order.append("first closed")
        await second_task
        await closer_inner
        ticker.task.cancel()
        return order

    async def close_modal_when_not(first: Any, ticker: Ticker, close: Callable[[Any], None]) -> None:
        await wait_until(
            lambda: QtWidgets.QApplication.activeModalWidget() not in (None, first), "second dialog open"
        )
        await close_modal_when(ticker, 2, close)  # closes the second one
        await close_modal_when(ticker, 2, close)  # then the first one

    # The second dialog's nested loop runs inside the first one's: it must close first.
    assert run(mode, main) == ["second closed", "first closed"]


@MODES
def test_exceptions_and_results_reach_the_awaiting_coroutine(mode: str) -> None:
    async def main() -> int:
        def fails() -> None:
            raise LookupError("from the modal function")

        with pytest.raises(LookupError, match="from the modal function"):
            await qtinter.modal(fails)()
        return await qtinter.modal(lambda a, b: a + b)(2, b=3)

    assert run(mode, main) == 5


@MODES
def test_cancelled_before_it_started_never_calls(mode: str) -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        loop = asyncio.get_running_loop()
        assert isinstance(loop, qtinter.QiBaseEventLoop)
        await asyncio.sleep(0)  # in a loop iteration (guest mode starts main outside one)
        # Its first step runs now and schedules the call, made right after this task's step.
        waiting = loop.run_task(qtinter.modal(lambda: calls.append("called"))())
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # Modal functions scheduled from loop iterations are called in order: once a later one has
        # run, the cancelled one had its turn.
        await qtinter.modal(lambda: calls.append("a later one"))()
        return calls

    assert run(mode, main) == ["a later one"]


def test_bad_arguments() -> None:
    async def coroutine_function() -> None:
        pass

    with pytest.raises(TypeError, match="needs a callable"):
        qtinter.modal(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="await it directly"):
        qtinter.modal(coroutine_function)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="qtinter event loop"):
            await qtinter.modal(lambda: None)()

    asyncio.run(main())
