"""Drive vsview 0.14.0 headless through a scripted session (run by ``nox -s compat``).

Usage: ``python drive_vsview.py WORKDIR [--port DIFF]``, with QT_QPA_PLATFORM=offscreen, inside an
environment that has vsview and either vsengine-core (ours) or vsjetengine 2.0.0 (the reference).
With ``--port`` vsview runs patched onto vsengine_qt's loop (``port_vsview.py``; the patch's
unified diff goes to DIFF), from a copy of the installed package.

vsview starts as its ``vsview`` command starts it (``Application``, ``PluginManager.load()``,
``MainWindow``), minus the command-line parsing. Each step acts on vsview's own objects (its main
window's ``load_new_script``, the workspace's playback manager's seek and play slots, its reload
slot) and waits for vsview's own signals and state: the frames it renders (checked by colour), the
timeline cursor, the error dialog it opens for a broken script. One step calls a coroutine the way
a vsview plugin would, through ``vsview.api.run_in_loop(return_future=False)`` in a GUI slot.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from driver_support import (
    BROKEN_MARKER,
    FIRST_COLOURS,
    RELOADED_COLOURS,
    Steps,
    Waiter,
    arguments,
    broken_source,
    colour_at_centre,
    end_application,
    engine_name,
    exit_after,
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
        from port_vsview import HUNKS

        engine += port("vsview", HUNKS, workdir, diff)

    steps = Steps("vsview 0.14.0", engine)
    state: dict[str, Any] = {}
    frames: list[tuple[int, tuple[int, int, int]]] = []  # (cursor before it was shown, colour)
    frames_lock = threading.Lock()
    cursor = [-1]
    dialogs: list[str] = []

    from PySide6 import QtCore
    from PySide6.QtWidgets import QApplication, QMessageBox

    wait = Waiter(QtCore)

    def start() -> str:
        from vsview.app.main import Application, MainWindow
        from vsview.app.plugins.manager import PluginManager

        app = Application([__file__], no_settings=True)
        PluginManager.load()
        window = MainWindow()
        window.show()
        state.update(app=app, window=window)

        # vsview shows script errors in a modal QMessageBox: record and close each one.
        def close_dialogs() -> None:
            for widget in QApplication.topLevelWidgets():
                if isinstance(widget, QMessageBox) and widget.isVisible():
                    dialogs.append(widget.text())
                    widget.done(0)

        watcher = QtCore.QTimer()
        watcher.timeout.connect(close_dialogs)
        watcher.start(50)
        state["watcher"] = watcher
        return f"{type(window).__name__}, loop {loop_in_use(diff is not None)}"

    def on_frame(image: Any, *_: Any) -> None:
        with frames_lock:
            frames.append((cursor[0], colour_at_centre(image)))

    def on_cursor(n: int) -> None:
        cursor[0] = n

    def last_colour() -> tuple[int, int, int] | None:
        with frames_lock:
            return frames[-1][1] if frames else None

    def load() -> str:
        button, _future = state["window"].load_new_script(script)
        workspace = button.workspace
        state["workspace"] = workspace
        finished: list[str] = []
        errored: list[str] = []
        workspace.statusLoadingFinished.connect(finished.append)
        workspace.statusLoadingErrored.connect(errored.append)
        workspace.playback.frameRendered.connect(on_frame)
        workspace.playback.timelineCursorChanged.connect(on_cursor)
        wait.until(lambda: finished or errored, "the script to load")
        if errored:
            raise AssertionError(f"loading failed: {errored} {dialogs}")
        wait.until(
            lambda: same_colour(last_colour(), FIRST_COLOURS[0]),
            f"a frame of output 0 coloured {FIRST_COLOURS[0]}",
        )
        tabs = workspace.tab_manager.tabs.count()
        assert tabs == len(FIRST_COLOURS), f"{tabs} output tabs"
        return f"{tabs} outputs, first frame {last_colour()}"

    def switch_output() -> str:
        workspace = state["workspace"]
        workspace.tab_manager.tabs.setCurrentIndex(1)
        wait.until(
            lambda: same_colour(last_colour(), FIRST_COLOURS[1]),
            f"a frame of output 1 coloured {FIRST_COLOURS[1]}",
        )
        return f"output 1 shown, {last_colour()}"

    def seek() -> str:
        playback = state["workspace"].playback
        with frames_lock:
            before = len(frames)
        playback.seek_frame(37)  # vsview emits the frame, then moves the cursor to it
        wait.until(lambda: cursor[0] == 37, "the timeline cursor at frame 37")
        wait.until(lambda: len(frames) > before, "frame 37 rendered")
        return f"cursor {cursor[0]}, {len(frames) - before} frame(s) rendered"

    def play() -> str:
        playback = state["workspace"].playback
        with frames_lock:
            before = len(frames)
        start_at = cursor[0]
        playback.toggle_playback()
        wait.until(lambda: len(frames) >= before + 12, "12 frames played")
        playback.toggle_playback()
        wait.until(lambda: not playback.state.is_playing, "playback to stop")
        assert cursor[0] > start_at, f"the cursor did not move during playback ({start_at} -> {cursor[0]})"
        return f"played {len(frames) - before} frames, cursor {start_at} -> {cursor[0]}"

    def reload() -> str:
        workspace = state["workspace"]
        write(script, script_source(RELOADED_COLOURS))
        workspace.reload_content()
        wait.until(
            lambda: same_colour(last_colour(), RELOADED_COLOURS[1]),
            f"a reloaded frame coloured {RELOADED_COLOURS[1]}",
        )
        wait.until(lambda: workspace.playback.can_reload, "the workspace to accept the next reload")
        return f"reloaded, output {workspace.tab_manager.tabs.currentIndex()} shows {last_colour()}"

    def broken() -> str:
        workspace = state["workspace"]
        errored: list[str] = []
        workspace.statusLoadingErrored.connect(errored.append)
        write(script, broken_source())
        workspace.reload_content()
        wait.until(lambda: errored, "vsview to report the loading error")
        wait.until(
            lambda: any(BROKEN_MARKER in text for text in dialogs), "the error dialog naming the error"
        )
        shown = next(text for text in dialogs if BROKEN_MARKER in text)
        return f"status {errored[0]!r}; dialog: {shown.splitlines()[0]}"

    def plugin_coroutine() -> str:
        from vsview.api import run_in_loop

        @run_in_loop(return_future=False)
        async def double(x: int) -> int:
            await asyncio.sleep(0)
            return 2 * x

        results: list[int] = []
        QtCore.QTimer.singleShot(0, lambda: results.append(double(21)))  # a slot on the GUI thread
        wait.until(lambda: results, "the coroutine's result in the slot")
        assert results == [42], results
        return f"double(21) -> {results[0]} in a GUI slot"

    def close() -> str:
        window = state["window"]
        window.close()
        state["watcher"].stop()
        wait.until(lambda: not window.isVisible(), "the main window to close")
        end_application(state["app"], QtCore)
        return "closed, app.exec() returned"

    steps.run("start", start)
    steps.run("load multi-output script", load)
    steps.run("switch output", switch_output)
    steps.run("seek", seek)
    steps.run("play", play)
    steps.run("reload", reload)
    steps.run("broken script shows its error", broken)
    steps.run("plugin coroutine through run_in_loop", plugin_coroutine)
    steps.run("close", close)
    exit_after(steps)


if __name__ == "__main__":
    main()
