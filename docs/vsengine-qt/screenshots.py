"""Make the previewer screenshots of docs/vsengine-qt/previewer.md (run from the repository root):

    QT_QPA_PLATFORM=offscreen python docs/vsengine-qt/screenshots.py [DIR]

Writes docs/vsengine-qt/images/preview-*.png (or DIR/preview-*.png: the tests do so): the window
on the built-in clip, and on a script with two video outputs and an audio output in the wipe view,
each taken with QWidget.grab() (offscreen, no display needed). Without a sound server the audio
controls say "no sound"; the committed images were made with one (a PulseAudio null sink, as the
tests use: ``PULSE_SERVER=unix:/path/native``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import tempfile
from pathlib import Path

importlib.import_module(os.environ.setdefault("QTINTERBINDING", "PySide6") + ".QtWidgets")

import qtinter  # noqa: E402
from vsengine_qt import PreviewWindow, setup  # noqa: E402
from vsengine_qt._qt import QtWidgets  # noqa: E402

IMAGES = Path(__file__).resolve().parent / "images"
TWO_OUTPUTS = """
import vapoursynth as vs
from vsengine_qt._testclip import builtin_clip
clip = builtin_clip()
clip.set_output(0)
vs.core.std.Invert(clip).set_output(1)
vs.core.std.BlankAudio(length=480000, samplerate=48000, waveform="sine", frequency=440).set_output(2)
"""


async def loaded(window: PreviewWindow) -> None:
    done = asyncio.get_running_loop().create_future()
    window.loaded.connect(lambda: done.done() or done.set_result(None))
    await asyncio.wait_for(done, 60)


async def frame(window: PreviewWindow, n: int) -> None:
    shown = asyncio.get_running_loop().create_future()

    def on(m: int) -> None:
        if m == n and not shown.done():
            shown.set_result(None)

    window.frameShown.connect(on)
    window.seek(n)
    await asyncio.wait_for(shown, 60)
    window.frameShown.disconnect(on)


async def main(images: Path) -> None:
    images.mkdir(exist_ok=True)
    with setup() as session, tempfile.TemporaryDirectory() as scratch:
        window = PreviewWindow(session.policy, auto_reload=False)
        window.resize(1280, 720)
        window.show()
        await loaded(window)
        await frame(window, 100)
        window.grab().save(str(images / "preview-window.png"))
        window.close()
        script = Path(scratch) / "two-outputs.vpy"
        script.write_text(TWO_OUTPUTS)
        window = PreviewWindow(session.policy, script, auto_reload=False)
        window.resize(1280, 720)
        window.show()
        await loaded(window)
        await frame(window, 42)
        window.select_output(1)
        window.select_output(0)
        window.toggle_wipe()
        await frame(window, 43)
        window.grab().save(str(images / "preview-wipe.png"))
        window.close()


if __name__ == "__main__":
    app = QtWidgets.QApplication(sys.argv[:1])
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else IMAGES), loop_factory=qtinter.new_event_loop)
