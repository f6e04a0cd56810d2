"""Choose a colour in a modal dialog while asyncio keeps running (a clock ticks in the console).

``qtinter.modal(dialog.exec)`` runs the dialog's nested Qt loop without blocking asyncio.
Owner mode: ``asyncio.run`` drives and Qt's loop runs inside it.
Run ``python color.py --demo`` to watch it pick a colour by itself.
"""

from __future__ import annotations

import asyncio
import sys

from qt import QtGui, QtWidgets  # import the Qt binding before qtinter

import qtinter

DEMO = "--demo" in sys.argv


async def choose_color() -> str | None:
    dialog = QtWidgets.QColorDialog()
    dialog.setOption(QtWidgets.QColorDialog.ColorDialogOption.DontUseNativeDialog)
    result = await qtinter.modal(dialog.exec)()
    if result == QtWidgets.QDialog.DialogCode.Accepted:
        return str(dialog.selectedColor().name())
    return None


async def tick(counter: list[int]) -> None:
    while True:
        await asyncio.sleep(0.02)
        counter[0] += 1
        if not DEMO:
            print(f"asyncio is alive: tick {counter[0]}", end="\r")


async def pick_teal(ticks: list[int]) -> None:
    """What a user would do: wait for the dialog, choose a colour, press OK."""
    while (dialog := QtWidgets.QApplication.activeModalWidget()) is None:
        await asyncio.sleep(0.01)
    start = ticks[0]
    while ticks[0] < start + 3:  # the clock keeps ticking while the dialog is open
        await asyncio.sleep(0.01)
    print("ticks while the dialog was open: at least", ticks[0] - start)
    dialog.setCurrentColor(QtGui.QColor("teal"))
    dialog.accept()


async def main() -> None:
    ticks = [0]
    clock = asyncio.ensure_future(tick(ticks))
    user = asyncio.ensure_future(pick_teal(ticks)) if DEMO else None
    color = await choose_color()
    clock.cancel()
    if user is not None:
        await user
    print("chosen:", color)


if __name__ == "__main__":
    app = QtWidgets.QApplication(sys.argv[:1])
    if sys.version_info >= (3, 12):
        asyncio.run(main(), loop_factory=qtinter.new_event_loop)
    else:  # asyncio.run() has no loop_factory before Python 3.12
        with qtinter.using_qt_from_asyncio():
            asyncio.run(main())
