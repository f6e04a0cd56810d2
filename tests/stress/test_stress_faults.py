"""An exception or ``SystemExit`` raised in a slot, in a frame callback and in a script: it is
reported (the loop's exception handler, a ``frameFailed`` signal, the previewer's error page), the
application keeps running, and a ``SystemExit`` in a slot ends the application cleanly with its
exit status (``app.exec()`` returns, the ``with`` blocks clean up, the process exits with it).

Each scenario is a real Qt application (guest mode, ``vsengine_qt.setup()``) in a child process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from stress_support import child

if TYPE_CHECKING:
    from pathlib import Path

SLOT = """
import vapoursynth as vs
import vsengine_qt

RAISE = {raise_!r}
app = QtWidgets.QApplication([])
events = []
Signal = getattr(QtCore, "pyqtSignal", None) or QtCore.Signal


class Emitter(QtCore.QObject):
    fire = Signal()


async def slot():
    await asyncio.sleep(0)
    raise eval(RAISE)


emitter = Emitter()
emitter.fire.connect(qtinter.asyncslot(slot))
try:
    with vsengine_qt.setup() as session:
        QtCore.QTimer.singleShot(0, emitter.fire.emit)
        QtCore.QTimer.singleShot(300, lambda: (events.append("still running"), app.quit()))
        exec_qt(app)
        events.append("exec returned")
finally:
    print(events, "policy registered:", vs.has_policy(), flush=True)
"""


def test_exception_in_a_slot_is_reported_and_the_app_keeps_running() -> None:
    result = child(SLOT.format(raise_="ValueError('boom in slot')"), timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "['still running', 'exec returned'] policy registered: False"
    assert "Unhandled exception in asyncslot slot" in result.stderr
    assert "ValueError: boom in slot" in result.stderr


def test_system_exit_in_a_slot_exits_cleanly_with_its_status() -> None:
    result = child(SLOT.format(raise_="SystemExit(3)"), timeout=60)
    assert result.returncode == 3, result.stderr[-3000:]
    # app.exec() returned early (no "still running"), the clean-up ran, nothing was printed as an error.
    assert result.stdout.strip() == "['exec returned'] policy registered: False"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


FRAME_CALLBACK = """
import vapoursynth as vs
import vsengine_qt

RAISE = {raise_!r}
app = QtWidgets.QApplication([])
events = []
calls = []


def transform(frame):  # runs on VapourSynth's threads
    calls.append(1)
    if len(calls) == 3:
        raise eval(RAISE)
    return frame.width


with vsengine_qt.setup() as session:
    env = session.policy.new_environment()
    with env.use():
        clip = vs.core.std.BlankClip(width=32, height=32, length=8)
    streams = []

    def start():
        stream = vsengine_qt.FrameStream(clip, transform=transform, prefetch=1)
        stream.frameReady.connect(lambda n, value, seconds: events.append(("ready", n)))
        stream.frameFailed.connect(lambda n, error: events.append(("failed", n, repr(error))))
        stream.finished.connect(lambda: (events.append("finished"), app.quit()))
        stream.seek(0)
        streams.append(stream)

    QtCore.QTimer.singleShot(0, start)
    QtCore.QTimer.singleShot(20_000, app.quit)  # a bound, should delivery stop
    exec_qt(app)
    for stream in streams:
        stream.close()
    del clip
    env.dispose()
print(events, flush=True)
"""


@pytest.mark.parametrize("raise_", ["ValueError('boom in frame callback')", "SystemExit(4)"])
def test_exception_in_a_frame_callback_fails_that_frame_only(raise_: str) -> None:
    # A SystemExit on a VapourSynth thread cannot end the process (as in any worker thread): it is
    # that frame's failure, reported like any other.
    result = child(FRAME_CALLBACK.format(raise_=raise_), timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = [
        ("ready", 0),
        ("ready", 1),
        ("failed", 2, raise_),
        *(("ready", n) for n in range(3, 8)),
        "finished",
    ]
    assert result.stdout.strip() == repr(expected), result.stderr[-3000:]


SCRIPT = """
import vapoursynth as vs
import vsengine_qt

app = QtWidgets.QApplication([])
events = []


async def main(session):
    window = vsengine_qt.PreviewWindow(session.policy, {script!r})
    window.failed.connect(lambda text: events.append(text.splitlines()[0]))
    window.show()
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if events:
                break
        events.append(f"still running, window visible: {{window.isVisible()}}")
    finally:
        window.close()
        app.quit()


with vsengine_qt.setup() as session:
    QtCore.QTimer.singleShot(0, lambda: session.asyncio_loop.create_task(main(session)))
    exec_qt(app)
print(events, "policy registered:", vs.has_policy(), flush=True)
"""


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("raise ValueError('boom in script')", "ValueError: boom in script"),
        ("import sys\nsys.exit(5)", "SystemExit: 5"),
    ],
    ids=["exception", "SystemExit"],
)
def test_exception_in_a_script_is_shown_and_the_previewer_keeps_running(
    tmp_path: Path, body: str, shown: str
) -> None:
    script = tmp_path / "bad.vpy"
    script.write_text(f"import vapoursynth as vs\nvs.core.std.BlankClip().set_output()\n{body}\n")
    result = child(SCRIPT.format(script=str(script)), timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip()
    assert shown in lines, (lines, result.stderr[-3000:])
    assert "still running, window visible: True" in lines
    assert lines.endswith("policy registered: False")
