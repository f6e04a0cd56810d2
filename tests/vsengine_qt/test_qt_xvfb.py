"""The previewer in a real X window under Xvfb: outputs, zoom, the properties panel, a snapshot,
the wipe view and playback with sound, checked on screenshots of the window (QScreen.grabWindow:
what the X server shows) and on the window's state.

Skipped when Xvfb is not installed (``apt-get install -y --no-install-recommends xvfb xauth
libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-cursor0``; .ci/run installs them in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from vsengine_qt._qt import BINDING, QtGui

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None,
    reason="Xvfb is not installed (apt-get install -y --no-install-recommends xvfb xauth "
    "libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-cursor0)",
)

#: Drives the window in the child (the X display is the test's Xvfb) and writes screenshots.
CHILD = r"""
import asyncio, os, sys
from pathlib import Path
import importlib
importlib.import_module(os.environ["QTINTERBINDING"] + ".QtWidgets")
import qtinter
from vsengine_qt._qt import QtCore, QtWidgets
from vsengine_qt import PreviewWindow, setup

out = Path(sys.argv[2])

async def next_frame(window):
    future = asyncio.get_running_loop().create_future()
    window.frameShown.connect(lambda n: future.done() or future.set_result(n))
    return await asyncio.wait_for(future, 60)

def shot(window, name):
    QtWidgets.QApplication.processEvents()
    screen = window.screen()
    screen.grabWindow(window.winId()).save(str(out / name))
    window.view.grab().save(str(out / ("view-" + name)))

async def main():
    with setup() as session:
        window = PreviewWindow(session.policy, sys.argv[1], snapshot_dir=out)
        window.resize(900, 600)
        window.show()
        await next_frame(window)
        shot(window, "output0.png")
        window.select_output(1)
        await next_frame(window)
        shot(window, "output1.png")
        window.view.set_zoom(8.0)
        shot(window, "zoom8.png")
        window.save_snapshot()
        (out / "props.txt").write_text(repr(window.panel.props.rows()) + "\n" + window.windowTitle())
        window.view.set_zoom(None)
        window.select_output(0)  # output 1 becomes the compared one
        await next_frame(window)
        window.toggle_wipe()
        await next_frame(window)
        shot(window, "wipe.png")
        shown = []
        window.frameShown.connect(shown.append)
        window.play()
        while len(shown) < 12:
            await next_frame(window)
        audio = window.audio
        played = audio is not None and audio.start_sample == 2000 and audio.position > 2000
        window.pause()
        (out / "play.txt").write_text(
            f"{shown[:12]}\n{window.audio_controls.isVisible()}\n{played or window.audio_label.text()}"
        )
        window.close()

app = QtWidgets.QApplication(["xvfb-test"])
asyncio.run(main(), loop_factory=qtinter.new_event_loop)
"""

SCRIPT = """
import vapoursynth as vs
core = vs.core
red = core.std.BlankClip(width=320, height=240, format=vs.RGB24, color=[255, 0, 0], length=48, fpsnum=24)
red.set_output(0)
blue = core.std.BlankClip(red, width=160, height=120, color=[0, 0, 255])
core.std.SetFrameProps(blue, Marker="xvfb").set_output(1)
core.std.BlankAudio(length=96000, samplerate=48000, waveform="sine", frequency=440).set_output(2)
"""


@pytest.fixture
def display(tmp_path: Path) -> Iterator[str]:
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it when it is ready for clients.
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(30)


def test_window_under_xvfb(display: str, tmp_path: Path) -> None:
    script = tmp_path / "xvfb.vpy"
    script.write_text(SCRIPT)
    out = tmp_path / "shots"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", QTINTERBINDING=BINDING)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(script), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    def center(name: str) -> tuple[int, int, int]:
        image = QtGui.QImage(str(out / name))
        color = image.pixelColor(image.width() // 2, image.height() // 2)
        return color.red(), color.green(), color.blue()

    # What the X server shows of the window: the red output, then the blue one (the view is in
    # the middle-left of the window; its own grab is checked at its centre).
    assert center("view-output0.png") == (255, 0, 0)
    assert center("view-output1.png") == (0, 0, 255)
    window0 = QtGui.QImage(str(out / "output0.png"))
    assert window0.width() >= 900
    assert (255, 0, 0) in {
        window0.pixelColor(x, window0.height() // 2).getRgb()[:3] for x in range(0, window0.width(), 4)
    }
    assert center("view-zoom8.png") == (0, 0, 255)
    snapshot = QtGui.QImage(str(out / "xvfb-out1-frame000000.png"))
    assert (snapshot.width(), snapshot.height()) == (160, 120)
    props, title = (out / "props.txt").read_text().split("\n")
    assert "('Marker', 'xvfb')" in props
    assert title == "xvfb.vpy - output 1 - vsengine-qt preview"
    # The wipe view: output 0 (red) left of the divider, the compared output 1 (blue) right of it.
    wipe = QtGui.QImage(str(out / "view-wipe.png"))
    y = wipe.height() // 2
    assert wipe.pixelColor(wipe.width() // 4, y).getRgb()[:3] == (255, 0, 0)
    assert wipe.pixelColor(wipe.width() * 3 // 4, y).getRgb()[:3] == (0, 0, 255)
    window_wipe = QtGui.QImage(str(out / "wipe.png"))
    row = {
        window_wipe.pixelColor(x, window_wipe.height() // 2).getRgb()[:3] for x in range(window_wipe.width())
    }
    assert {(255, 0, 0), (0, 0, 255)} <= row
    # Playback from frame 0 (seek) on: frames 1-12 in order, with sound from frame 1's first sample
    # (or, without a sound server, the controls say "no sound").
    frames, controls_visible, played = (out / "play.txt").read_text().split("\n")
    assert frames == str(list(range(1, 13)))
    assert controls_visible == "True"
    assert played in ("True", "no sound"), played
