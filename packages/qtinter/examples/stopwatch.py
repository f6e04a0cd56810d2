"""A stopwatch whose display is driven by ``qtinter.asyncsignalstream`` over a QTimer's ticks.

Start/Stop runs or cancels a coroutine that iterates over the timer's ``timeout`` emissions. The
stream is bounded (``maxsize=1``): if the display falls behind, old ticks are dropped, never queued.
Owner mode: ``asyncio.run`` drives. Run ``python stopwatch.py --demo`` to watch it run by itself.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from qt import QtCore, QtWidgets, Signal  # import the Qt binding before qtinter

import qtinter

DEMO = "--demo" in sys.argv


class Stopwatch(QtWidgets.QWidget):  # type: ignore[misc]
    closed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Stopwatch")
        self.display = QtWidgets.QLabel("0.00")
        self.button = QtWidgets.QPushButton("Start")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.display)
        layout.addWidget(self.button)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(10)
        self.running: asyncio.Task[None] | None = None
        self.ticks = 0
        self.button.clicked.connect(qtinter.asyncslot(self.toggle))

    async def toggle(self) -> None:
        if self.running is not None:
            self.running.cancel()
            return
        self.running = asyncio.current_task()
        self.button.setText("Stop")
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with qtinter.asyncsignalstream(self.timer.timeout, maxsize=1) as ticks:
                self.timer.start()
                async for _ in ticks:
                    self.ticks += 1
                    self.display.setText(f"{loop.time() - started:.2f}")
        finally:
            self.timer.stop()
            self.button.setText("Start")
            self.running = None

    def closeEvent(self, event: Any) -> None:
        if self.running is not None:
            self.running.cancel()
        self.closed.emit()
        super().closeEvent(event)


async def demo(watch: Stopwatch) -> None:
    watch.button.click()  # start
    while watch.ticks < 10:
        await asyncio.sleep(0.01)
    watch.button.click()  # stop
    await asyncio.sleep(0)
    print(
        "stopped:", watch.running is None, "ticks >= 10:", watch.ticks >= 10, "shown:", watch.display.text()
    )
    watch.close()


async def main() -> None:
    watch = Stopwatch()
    watch.show()
    closed = asyncio.ensure_future(qtinter.asyncsignal(watch.closed))  # listen before anything can close it
    user = asyncio.ensure_future(demo(watch)) if DEMO else None
    await closed
    if user is not None:
        await user


if __name__ == "__main__":
    app = QtWidgets.QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the coroutine decides when the program ends
    if sys.version_info >= (3, 12):
        asyncio.run(main(), loop_factory=qtinter.new_event_loop)
    else:  # asyncio.run() has no loop_factory before Python 3.12
        with qtinter.using_qt_from_asyncio():
            asyncio.run(main())
