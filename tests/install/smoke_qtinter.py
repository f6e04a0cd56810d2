"""Smoke test of a qtinter wheel installed alone with PyQt6 (run by `nox -s install`).

Runs a coroutine on a qtinter loop in owner mode under a QCoreApplication, and checks that nothing
of VapourSynth came along with the install.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import QCoreApplication, QTimer

import qtinter


async def main() -> str:
    fired = asyncio.get_running_loop().create_future()
    QTimer.singleShot(10, lambda: fired.set_result("qt timer"))  # a Qt timer resolves an asyncio future
    await asyncio.sleep(0.01)
    return await asyncio.wait_for(fired, 5)


def run() -> None:
    for name in ("vapoursynth", "vsengine", "vsengine_qt"):
        assert importlib.util.find_spec(name) is None, f"{name} must not be installed with qtinter alone"
    app = QCoreApplication.instance() or QCoreApplication(sys.argv)
    if sys.version_info >= (3, 12):
        result = asyncio.run(main(), loop_factory=qtinter.new_event_loop)
    elif sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=qtinter.new_event_loop) as runner:
            result = runner.run(main())
    else:  # Python 3.10: no loop_factory; the loop is made and closed by hand
        loop = qtinter.new_event_loop()
        try:
            result = loop.run_until_complete(main())
        finally:
            loop.close()
    assert result == "qt timer", result
    del app
    print("qtinter smoke ok:", qtinter.__name__, "on", sys.version.split()[0])


if __name__ == "__main__":
    run()
