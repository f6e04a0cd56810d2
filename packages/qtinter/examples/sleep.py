"""A button whose slot sleeps on asyncio: it disables itself, waits one second, and enables itself.

Guest mode: the application runs Qt's loop (``app.exec()``) as usual and asyncio runs inside it.
Run ``python sleep.py --demo`` to watch it click itself and quit.
"""

from __future__ import annotations

import asyncio
import sys

from qt import QtCore, QtWidgets  # import the Qt binding before qtinter

import qtinter

DEMO = "--demo" in sys.argv
SECONDS = 0.1 if DEMO else 1.0


def main() -> None:
    app = QtWidgets.QApplication(sys.argv[:1])
    button = QtWidgets.QPushButton(f"Sleep for {SECONDS:g} second(s)")

    async def sleep() -> None:
        button.setEnabled(False)  # runs at once, inside the click: no second click can sneak in
        await asyncio.sleep(SECONDS)
        button.setEnabled(True)

    button.clicked.connect(qtinter.asyncslot(sleep))
    button.show()

    async def demo() -> None:
        button.click()
        print("enabled right after the click:", button.isEnabled())
        while not button.isEnabled():
            await asyncio.sleep(0.01)
        print("enabled after the sleep:", button.isEnabled())
        app.quit()

    if DEMO:
        QtCore.QTimer.singleShot(0, qtinter.asyncslot(demo))

    with qtinter.using_asyncio_from_qt():
        app.exec()


if __name__ == "__main__":
    main()
