"""Drive vs-preview 0.20.1 headless through a scripted session (run by ``nox -s compat``).

Usage: ``python drive_vspreview.py WORKDIR [--port DIFF]``, with QT_QPA_PLATFORM=offscreen, inside
an environment that has vspreview and either vsengine-core (ours) or vsjetengine 2.0.0 (the
reference). With ``--port`` vs-preview runs patched onto vsengine_qt's loop and ``FrameStream``
playback (``port_vspreview.py``; the patch's unified diff goes to DIFF), from a copy of the
installed package.

vs-preview starts as ``vspreview.init.main`` starts it (its QApplication, its vsengine loop, its
``MainWindow`` and ``load_script``), minus the argument parsing and ``app.exec()``. Each step acts
on vs-preview's own objects (``switch_output``, ``switch_frame``, the playback toolbar's ``play``
and ``stop``, ``reload_script``) and checks what it shows: the colour of the pixmap in its graphics
scene, the frame it says it shows, and its script error dialog.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from driver_support import (
    BROKEN_MARKER,
    FIRST_COLOURS,
    LENGTH,
    RELOADED_COLOURS,
    Steps,
    Waiter,
    arguments,
    broken_source,
    colour_at_centre,
    end_application,
    engine_name,
    exit_after,
    failing_frame_source,
    loop_in_use,
    port,
    same_colour,
    script_source,
    write,
)


def main() -> None:
    workdir, diff = arguments()
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "outputs.vpy"
    write(script, script_source(FIRST_COLOURS))
    engine = engine_name()
    if diff is not None:
        from port_vspreview import HUNKS

        engine += port("vspreview", HUNKS, workdir, diff)

    steps = Steps("vs-preview 0.20.1", engine)
    state: dict[str, Any] = {}

    from PyQt6 import QtCore

    wait = Waiter(QtCore)

    def shown_colour() -> tuple[int, int, int]:
        return colour_at_centre(state["window"].current_scene.pixmap().toImage())

    def shown_frame() -> int:
        return int(state["window"].current_output.last_showed_frame)

    def start() -> str:
        import logging

        from PyQt6.QtWidgets import QApplication
        from vspreview import qt_patch  # noqa: F401  (vspreview.init imports it first)
        from vspreview.core.logger import set_log_level, setup_logger
        from vspreview.core.vsenv import set_vsengine_loop
        from vspreview.main import MainWindow

        setup_logger()
        set_log_level(logging.WARNING)
        os.chdir(script.parent)
        app = QApplication([sys.argv[0]])
        set_vsengine_loop()
        window = MainWindow(Path(os.getcwd()), True, True, False)
        state.update(app=app, window=window)
        return f"{type(window).__name__}, loop {loop_in_use(diff is not None)}"

    def load() -> str:
        from jetpytools import SPath

        window = state["window"]
        window.load_script(SPath(script), [], False, None, script.name, None)
        assert not window.script_exec_failed, window.script_error_dialog.label.text()
        count = len(window.outputs)
        assert count == len(FIRST_COLOURS), f"{count} outputs"
        wait.until(
            lambda: same_colour(shown_colour(), FIRST_COLOURS[0]),
            f"output 0 shown in {FIRST_COLOURS[0]}",
            actual=shown_colour,
        )
        return f"{count} outputs, shows {shown_colour()}"

    def switch_output() -> str:
        state["window"].switch_output(1)
        wait.until(
            lambda: same_colour(shown_colour(), FIRST_COLOURS[1]),
            f"output 1 shown in {FIRST_COLOURS[1]}",
            actual=shown_colour,
        )
        return f"output 1 shows {shown_colour()}"

    def seek() -> str:
        window = state["window"]
        window.switch_frame(37)
        wait.until(lambda: shown_frame() == 37, "frame 37 shown", actual=shown_frame)
        return f"frame {shown_frame()}"

    def play() -> str:
        playback = state["window"].toolbars.playback
        start_at = shown_frame()
        playback.play()
        if diff is not None:
            from vsengine_qt import FrameStream

            assert isinstance(playback.play_timer, FrameStream), "the port of playback is not in effect"
        wait.until(lambda: shown_frame() >= start_at + 12, "12 frames played", actual=shown_frame)
        playback.stop()
        stopped_at = shown_frame()
        return f"frames {start_at} -> {stopped_at}"

    def play_to_the_end() -> str:
        window = state["window"]
        playback = window.toolbars.playback
        last = LENGTH - 1
        window.switch_frame(last - 6)
        playback.play()
        wait.until(lambda: shown_frame() == last, f"the last frame ({last}) shown", actual=shown_frame)
        wait.until(lambda: not playback.play_timer.isActive(), "playback to stop by itself")
        status = window.statusbar.label.text()
        assert status != "Playing", status
        return f"stopped at frame {shown_frame()}, status {status!r}"

    def reload() -> str:
        window = state["window"]
        write(script, script_source(RELOADED_COLOURS))
        window.reload_script()
        assert not window.script_exec_failed, window.script_error_dialog.label.text()
        wait.until(
            lambda: same_colour(shown_colour(), RELOADED_COLOURS[1]),
            f"output 1 reloaded in {RELOADED_COLOURS[1]}",
            actual=shown_colour,
        )
        return f"reloaded, output 1 shows {shown_colour()} at frame {shown_frame()}"

    def broken() -> str:
        window = state["window"]
        write(script, broken_source())
        window.reload_script()
        dialog = window.script_error_dialog
        wait.until(lambda: dialog.isVisible(), "the script error dialog")
        text = dialog.label.text()
        assert window.script_exec_failed
        assert BROKEN_MARKER in text, text
        return f"{dialog.windowTitle()}: {text.splitlines()[0]}"

    def recover() -> str:
        window = state["window"]
        window.script_error_dialog.hide()
        write(script, script_source(FIRST_COLOURS))
        window.reload_script()
        assert not window.script_exec_failed, window.script_error_dialog.label.text()
        wait.until(
            lambda: any(same_colour(shown_colour(), c) for c in FIRST_COLOURS), "a frame of the fixed script"
        )
        return f"shows {shown_colour()}"

    def frame_fails_during_playback() -> str:
        # Only with the port: vs-preview 0.20.1 itself aborts here (its timer slot raises the frame's
        # error from .result(), and PyQt6 aborts on an exception in a slot).
        window = state["window"]
        playback = window.toolbars.playback
        write(script, failing_frame_source(20))
        window.reload_script()
        assert not window.script_exec_failed, window.script_error_dialog.label.text()
        window.switch_output(0)
        window.switch_frame(10)
        playback.play()
        dialog = window.script_error_dialog
        wait.until(lambda: dialog.isVisible(), "the error dialog", actual=shown_frame)
        assert BROKEN_MARKER in dialog.label.text(), dialog.label.text()
        wait.until(lambda: not playback.play_timer.isActive(), "playback to stop")
        dialog.hide()
        return f"{dialog.windowTitle()} at frame {shown_frame()}, playback stopped"

    def close() -> str:
        window = state["window"]
        window.close()
        wait.until(lambda: not window.isVisible(), "the main window to close")
        end_application(state["app"], QtCore)
        return "closed, app.exec() returned"

    steps.run("start", start)
    steps.run("load multi-output script", load)
    steps.run("switch output", switch_output)
    steps.run("seek", seek)
    steps.run("play", play)
    steps.run("play to the end", play_to_the_end)
    steps.run("reload", reload)
    steps.run("broken script shows its error", broken)
    steps.run("fixed script loads again", recover)
    if diff is not None:
        steps.run("a frame that fails during playback shows its error", frame_fails_during_playback)
    steps.run("close", close)
    exit_after(steps)


if __name__ == "__main__":
    main()
