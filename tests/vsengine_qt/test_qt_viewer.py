"""The previewer window, driven like a user would: screenshots (QWidget.grab) whose pixels must match
the known clip, seeking, playing, reloading without leaks, and errors shown in the window."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from vsqt_helpers import STEP_TIMEOUT, exec_app, next_emission, run, wait_for_signal, wait_until

from vsengine.loops import NO_LOOP, get_loop
from vsengine_qt import PreviewWindow, setup
from vsengine_qt._qt import BINDING, QtCore, QtGui, QtWidgets
from vsengine_qt._testclip import BARS, HEIGHT, MARKER_PERIOD, STRIP_HEIGHT, marker_frame

if TYPE_CHECKING:
    from vsengine.policy import Policy


def screenshot_checks(window: PreviewWindow) -> tuple[list[tuple[int, int, int]], int]:
    """The colours at the centres of the eight bars and the frame number the strip encodes, read
    from a screenshot of the whole window."""
    shot = window.grab().toImage()
    rect = window.view.image_rect()
    origin = window.view.mapTo(window, QtCore.QPoint(0, 0))
    scale = rect.height() / HEIGHT

    def at(x: float, y: float) -> tuple[int, int, int]:
        color = shot.pixelColor(origin.x() + rect.x() + int(x), origin.y() + rect.y() + int(y))
        return color.red(), color.green(), color.blue()

    bars = [at((i + 0.5) * rect.width() / len(BARS), rect.height() / 2) for i in range(len(BARS))]
    marker = at(rect.width() / 2, rect.height() - STRIP_HEIGHT * scale / 2)[0]
    return bars, marker_frame(marker)


def assert_bars(bars: list[tuple[int, int, int]]) -> None:
    for seen, expected in zip(bars, BARS, strict=True):
        assert all(abs(a - b) <= 4 for a, b in zip(seen, expected, strict=True)), (seen, expected)


async def open_window(
    policy: Policy, script: str | Path | None = None, output: int = 0, *, auto_reload: bool = True
) -> PreviewWindow:
    window = PreviewWindow(policy, script, output, auto_reload=auto_reload)
    window.resize(960, 640)
    window.show()
    return window


def mouse_move(
    widget: QtWidgets.QWidget,
    pos: QtCore.QPoint,
    buttons: QtCore.Qt.MouseButton = QtCore.Qt.MouseButton.NoButton,
) -> None:
    """The mouse moves over ``widget`` to ``pos`` with ``buttons`` held: the widget gets the move
    event at once. (Qt 5's QTest.mouseMove moves the cursor instead, and offscreen no widget hears of it.)"""
    event = QtGui.QMouseEvent(
        QtCore.QEvent.Type.MouseMove,
        QtCore.QPointF(pos),
        QtCore.QPointF(widget.mapToGlobal(pos)),
        QtCore.Qt.MouseButton.NoButton,
        buttons,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def test_screenshot_matches_the_builtin_clip_and_seeking_shows_the_frame(policy: Policy) -> None:
    async def main() -> list[object]:
        window = await open_window(policy)
        try:
            (n,) = await wait_for_signal(window.frameShown)
            bars, marker = screenshot_checks(window)
            seen: list[object] = [n, bars, marker]
            window.slider.setValue(37)  # as if the user dragged the slider
            (n,) = await wait_for_signal(window.frameShown)
            bars, marker = screenshot_checks(window)
            seen += [n, bars, marker, window.frame_label.text(), bool(window.timing_label.text().strip())]
            return seen
        finally:
            window.close()

    first, bars0, marker0, n, bars37, marker37, label, timing = run(main())
    assert (first, marker0) == (0, 0)
    assert_bars(bars0)  # type: ignore[arg-type]
    assert (n, marker37) == (37, 37 % MARKER_PERIOD)
    assert_bars(bars37)  # type: ignore[arg-type]
    assert label == "frame 37 / 239"
    assert timing


def test_play_shows_consecutive_frames_and_pause_stops(policy: Policy) -> None:
    async def main() -> tuple[list[int], list[int], int]:
        window = await open_window(policy)
        try:
            await wait_for_signal(window.frameShown)
            shown: list[int] = []
            window.frameShown.connect(shown.append)
            window.play_button.click()
            while len(shown) < 12:
                await wait_for_signal(window.frameShown)
            window.play_button.click()
            stopped_at = list(shown)
            assert not window.playing
            _, marker = screenshot_checks(window)
            # A still frame shown after the pause is the only frame that comes (no sleep: issue 13 item 16).
            window.seek(200)
            await wait_for_signal(window.frameShown)
            return stopped_at, shown[:-1], marker
        finally:
            window.close()

    stopped_at, shown, marker = run(main())
    assert stopped_at[:12] == list(range(1, 13))
    assert shown == stopped_at  # nothing after pause
    assert marker == shown[-1] % MARKER_PERIOD


def test_reload_disposes_the_old_environment_without_leaks(policy: Policy) -> None:
    async def main() -> tuple[list[bool], list[weakref.ref[object]], bool]:
        window = await open_window(policy)
        environments: list[weakref.ref[object]] = []
        disposed: list[bool] = []
        try:
            await wait_for_signal(window.frameShown)
            for _ in range(3):
                old = window.source
                assert old is not None
                environments.append(weakref.ref(old.environment))
                window.reload()
                await wait_for_signal(window.frameShown)
                disposed.append(old.environment.disposed)
                del old
            bars, _ = screenshot_checks(window)
            assert_bars(bars)
        finally:
            window.close()
        return disposed, environments, window.source is None

    disposed, environments, closed_clean = run(main())
    gc.collect()
    assert disposed == [True, True, True]
    assert closed_clean
    assert [ref() for ref in environments] == [None, None, None]  # nothing keeps them alive


def test_a_script_error_is_shown_and_a_fixed_script_reloads(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "broken.vpy"
    script.write_text(
        "import vapoursynth as vs\n\nclip = vs.core.std.BlankClip()\nraise ValueError('boom in the script')\n"
    )

    async def main() -> tuple[str, bool, list[tuple[int, int, int]]]:
        # The Reload button, not the file watcher: a second reload (the watcher's, for the same write)
        # could clear the view between frameShown and the screenshot.
        window = await open_window(policy, script, auto_reload=False)
        try:
            (text,) = await wait_for_signal(window.failed)
            error_visible = (
                window.pages.currentWidget() is window.error_label and window.error_label.isVisible()
            )
            script.write_text(
                "import vapoursynth as vs\n"
                "blue = vs.core.std.BlankClip(width=320, height=240, format=vs.RGB24, color=[0, 0, 255])\n"
                "blue.set_output()\n"
            )
            window.reload_button.click()
            await wait_for_signal(window.frameShown)
            shot = window.view.grab().toImage()
            rect = window.view.image_rect()
            center = shot.pixelColor(rect.center())
            return text, error_visible, [(center.red(), center.green(), center.blue())]
        finally:
            window.close()

    text, error_visible, center = run(main())
    assert "broken.vpy, line 4" in text
    assert "ValueError: boom in the script" in text
    assert error_visible
    assert center == [(0, 0, 255)]


@pytest.mark.parametrize(
    ("source", "output", "message"),
    [
        ("import vapoursynth as vs\nvs.core.std.BlankClip().set_output(1)\n", 3, "has no output 3"),
        ("import vapoursynth as vs\nvs.core.std.BlankAudio().set_output()\n", 0, "is audio"),
        ("def broken(:\n", 0, "SyntaxError"),
    ],
    ids=["missing-output", "audio-output", "syntax-error"],
)
def test_bad_outputs_are_shown(
    policy: Policy, tmp_path: Path, source: str, output: int, message: str
) -> None:
    script = tmp_path / "script.vpy"
    script.write_text(source)

    async def main() -> str:
        window = await open_window(policy, script, output)
        try:
            (text,) = await wait_for_signal(window.failed)
            return str(text)
        finally:
            window.close()

    assert message in run(main())


def test_a_frame_that_fails_to_render_is_shown(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "frames.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "clip = vs.core.std.BlankClip(length=10)\n"
        "def select(n):\n"
        "    if n == 0:\n"
        "        raise RuntimeError(f'cannot render frame {n}')\n"
        "    return clip\n"
        "vs.core.std.FrameEval(clip, select).set_output()\n"
    )

    async def main() -> tuple[str, int, bool]:
        window = await open_window(policy, script)
        try:
            (text,) = await wait_for_signal(window.failed)
            window.seek(5)  # another frame renders: the window shows frames again
            (n,) = await wait_for_signal(window.frameShown)
            return str(text), n, window.pages.currentWidget() is window.view
        finally:
            window.close()

    text, n, showing_frames = run(main())
    assert "frame 0 failed to render" in text
    assert "cannot render frame 0" in text
    assert n == 5
    assert showing_frames


def test_the_window_inside_app_exec_with_setup(qapp: QtWidgets.QApplication) -> None:
    """The application path: setup() (qtinter guest mode), the window, app.exec()."""
    result: list[object] = []
    with setup() as session:
        window = PreviewWindow(session.policy)
        window.resize(800, 500)
        window.show()

        def on_frame(n: int) -> None:
            if n == 0:
                window.seek(100)
            elif n == 100:
                result.extend(screenshot_checks(window))
                window.close()
                qapp.quit()

        window.frameShown.connect(on_frame)
        exec_app(qapp)
        window.dispose()
    assert get_loop() is NO_LOOP
    assert len(result) == 2
    assert_bars(result[0])  # type: ignore[arg-type]
    assert result[1] == 100 % MARKER_PERIOD


def test_frame_view_keeps_the_aspect_ratio(qapp: QtWidgets.QApplication) -> None:
    from vsengine_qt import FrameView

    view = FrameView()
    view.resize(400, 400)
    image = QtGui.QImage(160, 90, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor(10, 20, 30))
    view.set_image(image)
    assert view.image_rect() == QtCore.QRect(0, 87, 400, 225)
    shot = view.grab().toImage()
    assert shot.pixelColor(200, 200).getRgb()[:3] == (10, 20, 30)
    assert shot.pixelColor(200, 10).getRgb()[:3] == (0, 0, 0)


def test_reload_while_the_script_still_runs(policy: Policy, tmp_path: Path) -> None:
    """Reloading during a slow load abandons it: its environment is disposed once the script is done.

    The first run of the script waits at a gate the test opens only after the reload showed its
    frame (events, not sleeps: issue 13 item 16)."""
    from vsqt_helpers import GATES, Gate

    gate = GATES["slow-load"] = Gate()
    script = tmp_path / "slow.vpy"
    script.write_text(
        "import vapoursynth as vs\nimport vsqt_helpers\n"
        "gate = vsqt_helpers.GATES['slow-load']\n"
        "from vsengine.policy import registered_policy\n"
        "if gate.arrivals == 0:\n"
        "    gate.policy = registered_policy()\n"
        "    gate.first_environment = gate.policy.peek_current_environment()\n"
        "    gate.wait()\n"
        "vs.core.std.BlankClip(width=64, height=64, format=vs.RGB24, color=[9, 9, 9]).set_output()\n"
    )

    async def main() -> tuple[int, bool, bool]:
        window = await open_window(policy, script)
        try:
            await gate.reached()  # the first load is running the script, held at the gate
            window.reload()
            await wait_for_signal(window.frameShown)
            image = window.view.image
            assert image is not None
            first = gate.first_environment  # type: ignore[attr-defined]
            alive_while_held = gate.policy.is_alive(first)  # type: ignore[attr-defined]
            gate.open()  # the abandoned load finishes: its environment is disposed then
            await wait_until(lambda: not gate.policy.is_alive(first))  # type: ignore[attr-defined]
            return image.pixelColor(1, 1).red(), window.source is not None, alive_while_held
        finally:
            gate.open()
            window.close()

    try:
        assert run(main()) == (9, True, True)
    finally:
        del GATES["slow-load"]
    gc.collect()  # an undisposed environment would raise a ResourceWarning (an error here)


def test_keyboard_shortcuts(policy: Policy) -> None:
    """Right/Left step one frame, F5 reloads, Space plays and pauses (real key events)."""
    qt_test = importlib.import_module(f"{BINDING}.QtTest").QTest
    key = QtCore.Qt.Key

    async def main() -> list[object]:
        window = await open_window(policy)
        window.activateWindow()
        try:
            await wait_for_signal(window.frameShown)
            seen: list[object] = []
            qt_test.keyClick(window, key.Key_Right)
            seen.append((await wait_for_signal(window.frameShown))[0])
            qt_test.keyClick(window, key.Key_Left)
            seen.append((await wait_for_signal(window.frameShown))[0])
            old = window.source
            assert old is not None
            qt_test.keyClick(window, key.Key_F5)
            await wait_for_signal(window.loaded)
            seen.append(old.disposed)
            qt_test.keyClick(window, key.Key_Space)
            await wait_for_signal(window.frameShown)
            seen.append(window.playing)
            qt_test.keyClick(window, key.Key_Space)
            seen.append(window.playing)
            return seen
        finally:
            window.close()

    assert run(main()) == [1, 0, True, True, False]


# -- the features of issue 15 ---------------------------------------------------------------------

#: Output 0: red 320x240 RGB24; output 1: blue 160x120 (another size); output 2: audio; 50 frames each.
OUTPUTS = """
import vapoursynth as vs
core = vs.core
core.std.BlankClip(width=320, height=240, format=vs.RGB24, color=[255, 0, 0], length=50).set_output(0)
core.std.BlankClip(width=160, height=120, format=vs.RGB24, color=[0, 0, 255], length=50).set_output(1)
core.std.BlankAudio(length=48000).set_output(2)
"""


def key_click(widget: QtWidgets.QWidget, key: QtCore.Qt.Key, modifiers: object = None) -> None:
    qt_test = importlib.import_module(f"{BINDING}.QtTest").QTest
    if modifiers is None:
        qt_test.keyClick(widget, key)
    else:
        qt_test.keyClick(widget, key, modifiers)


def center_color(window: PreviewWindow, x: float = 0.5) -> tuple[int, int, int]:
    """The colour at a point of the drawn frame (``x``: a fraction of its width), from a screenshot."""
    shot = window.view.grab().toImage()
    rect = window.view.image_rect()
    color = shot.pixelColor(rect.x() + int(rect.width() * x), rect.y() + rect.height() // 2)
    return color.red(), color.green(), color.blue()


def test_outputs_switch_with_number_keys_keeping_the_frame(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "outputs.vpy"
    script.write_text(OUTPUTS)
    key = QtCore.Qt.Key

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            tabs = [window.outputs_bar.tabText(i) for i in range(window.outputs_bar.count())]
            audio_outputs = [window.audio_box.itemText(i) for i in range(window.audio_box.count())]
            first = (window.windowTitle(), center_color(window))
            window.seek(17)
            await wait_for_signal(window.frameShown)
            key_click(window, key.Key_1)
            (n,) = await wait_for_signal(window.frameShown)
            second = (n, window.output, window.windowTitle(), center_color(window), window.view.image.width())  # type: ignore[union-attr]
            key_click(window, key.Key_2)  # audio: played with the video shown
            audio = (window.output, window.audio_output, window.status.currentMessage())
            window.outputs_bar.setCurrentIndex(0)  # a click on the first tab
            (n,) = await wait_for_signal(window.frameShown)
            return [tabs, audio_outputs, first, second, audio, (n, window.output, center_color(window))]
        finally:
            window.close()

    tabs, audio_outputs, first, second, audio, back = run(main())
    assert tabs == ["0: 320x240 RGB24", "1: 160x120 RGB24"]
    assert audio_outputs == ["2: 2 ch 44100 Hz"]
    assert first == ("outputs.vpy - output 0 - vsengine-qt preview", (255, 0, 0))
    assert second == (17, 1, "outputs.vpy - output 1 - vsengine-qt preview", (0, 0, 255), 160)
    assert audio[:2] == (1, 2)  # still output 1 on screen; audio output 2 plays with it
    assert "audio output 2" in audio[2] or "audio is not played" in audio[2]  # type: ignore[operator]
    assert back == (17, 0, (255, 0, 0))


def test_compare_toggle_and_wipe_view(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "outputs.vpy"
    script.write_text(OUTPUTS)
    key = QtCore.Qt.Key

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            window.seek(9)
            await wait_for_signal(window.frameShown)
            key_click(window, key.Key_1)
            await wait_for_signal(window.frameShown)
            key_click(window, key.Key_C)  # back to the compared output, same frame
            (n,) = await wait_for_signal(window.frameShown)
            toggled = (n, window.output, window.compare_output, center_color(window))
            key_click(window, key.Key_W)
            await wait_until(lambda: window.view.compare_image is not None)
            wiped = (center_color(window, 0.25), center_color(window, 0.75))
            # Dragging the divider to 90% of the frame: the compared output is right of it only.
            rect = window.view.image_rect()
            qt_test = importlib.import_module(f"{BINDING}.QtTest").QTest
            y = rect.center().y()
            left = QtCore.Qt.MouseButton.LeftButton
            qt_test.mousePress(
                window.view, left, QtCore.Qt.KeyboardModifier.NoModifier, QtCore.QPoint(rect.center().x(), y)
            )
            mouse_move(window.view, QtCore.QPoint(rect.x() + int(rect.width() * 0.9), y), left)
            qt_test.mouseRelease(
                window.view,
                left,
                QtCore.Qt.KeyboardModifier.NoModifier,
                QtCore.QPoint(rect.x() + int(rect.width() * 0.9), y),
            )
            dragged = (
                round(window.view.wipe or 0, 1),
                center_color(window, 0.75),
                center_color(window, 0.95),
            )
            key_click(window, key.Key_W)
            return [toggled, wiped, dragged, window.view.wipe, center_color(window, 0.75)]
        finally:
            window.close()

    toggled, wiped, dragged, wipe_after, after = run(main())
    assert toggled == (9, 0, 1, (255, 0, 0))
    assert wiped == ((255, 0, 0), (0, 0, 255))
    assert dragged == (0.9, (255, 0, 0), (0, 0, 255))
    assert wipe_after is None
    assert after == (255, 0, 0)


#: A 64x64 checkerboard of 1-pixel squares, black and white (RGB24), 3 frames.
CHECKER = """
import vapoursynth as vs
core = vs.core
black = core.std.BlankClip(width=1, height=1, format=vs.RGB24, color=[0, 0, 0], length=3)
white = core.std.BlankClip(black, color=[255, 255, 255])
row = core.std.StackHorizontal([black, white] * 32)
row2 = core.std.StackHorizontal([white, black] * 32)
core.std.StackVertical([row, row2] * 32).set_output()
"""


def test_zoom_pan_and_nearest_neighbour(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "checker.vpy"
    script.write_text(CHECKER)
    key = QtCore.Qt.Key
    ctrl = QtCore.Qt.KeyboardModifier.ControlModifier

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            view = window.view
            key_click(window, key.Key_1, ctrl)  # 1:1
            actual = (view.zoom, view.image_rect().size())
            view.set_zoom(8.0)
            shot = view.grab().toImage()
            rect = view.image_rect()
            # Every screen pixel is exactly black or white: squares of 8x8, no blending. Read from the
            # first even image row on screen (the 512 pixel high image can be taller than the view).
            top = rect.y() + 16 * max(0, -rect.y() // 16 + 1)
            values = {shot.pixelColor(rect.x() + x, top + y).red() for x in range(64) for y in range(64)}
            block = [shot.pixelColor(rect.x() + x, top).red() for x in range(16)]
            before = view.center
            qt_test = importlib.import_module(f"{BINDING}.QtTest").QTest
            left = QtCore.Qt.MouseButton.LeftButton
            none = QtCore.Qt.KeyboardModifier.NoModifier
            qt_test.mousePress(view, left, none, QtCore.QPoint(300, 200))
            mouse_move(view, QtCore.QPoint(260, 180), left)
            qt_test.mouseRelease(view, left, none, QtCore.QPoint(260, 180))
            moved = (view.center.x() - before.x(), view.center.y() - before.y())
            key_click(window, key.Key_Minus, ctrl)
            zoomed_out = view.zoom
            key_click(window, key.Key_0, ctrl)
            return [actual, values, block, moved, zoomed_out, view.zoom, view.image_rect()]
        finally:
            window.close()

    actual, values, block, moved, zoomed_out, fit, fit_rect = run(main())
    assert actual == (1.0, QtCore.QSize(64, 64))
    assert values == {0, 255}
    assert block == [0] * 8 + [255] * 8
    assert moved == (5.0, 2.5)  # dragged by (-40, -20) screen pixels at 8x: the view moved right/down
    assert zoomed_out == 6.0
    assert fit is None
    assert fit_rect.height() > 64  # fitted to the window again


def test_wheel_zooms_around_the_cursor(qapp: QtWidgets.QApplication) -> None:
    from vsengine_qt import FrameView

    view = FrameView()
    view.resize(400, 300)
    image = QtGui.QImage(100, 100, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor(10, 20, 30))
    view.set_image(image)
    view.set_zoom(1.0)
    anchor = QtCore.QPointF(250, 150)
    under = view.to_image(anchor)
    event = QtGui.QWheelEvent(
        anchor,
        QtCore.QPointF(view.mapToGlobal(anchor.toPoint())),
        QtCore.QPoint(0, 0),
        QtCore.QPoint(0, 120),
        QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(view, event)
    assert view.zoom == 1.5
    assert view.to_image(anchor) == under


PIXELS = """
import vapoursynth as vs
core = vs.core
core.std.BlankClip(width=64, height=32, format=vs.YUV420P10, color=[500, 300, 700], length=2).set_output(0)
core.std.BlankClip(width=64, height=32, format=vs.RGBS, color=[0.25, 0.5, 1.0], length=2).set_output(1)
"""


def test_pixel_value_under_the_cursor_in_the_source_format(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "pixels.vpy"
    script.write_text(PIXELS)

    async def main() -> list[str]:
        window = await open_window(policy, script)
        seen = []
        try:
            for output in (0, 1):
                window.select_output(output)
                await wait_until(
                    lambda: (
                        window.frame is not None
                        and window.source is not None
                        and window.frame.format.name == window.source.node.format.name
                    )
                )  # type: ignore[union-attr]
                rect = window.view.image_rect()
                # The pixel (10, 5): the middle of its square on screen.
                scale = rect.width() / 64
                mouse_move(
                    window.view, QtCore.QPoint(rect.x() + int(10.5 * scale), rect.y() + int(5.5 * scale))
                )
                await wait_until(lambda: window.pixel_label.text() != "")
                seen.append(window.pixel_label.text())
            return seen
        finally:
            window.close()

    assert run(main()) == ["x 10 y 5  Y 500  U 300  V 700", "x 10 y 5  R 0.2500  G 0.5000  B 1.0000"]


def test_time_label_goto_box_and_navigation_keys(policy: Policy) -> None:
    key = QtCore.Qt.Key
    qt_test = importlib.import_module(f"{BINDING}.QtTest").QTest

    async def step(window: PreviewWindow, k: QtCore.Qt.Key, modifiers: object = None) -> int:
        key_click(window, k, modifiers)
        (n,) = await wait_for_signal(window.frameShown)
        return int(n)

    async def main() -> list[object]:
        window = await open_window(policy)
        try:
            await wait_for_signal(window.frameShown)
            # A click on the slider jumps to the clicked point (the handle ends up under the cursor),
            # and takes no keyboard focus.
            click_x = int(window.slider.width() * 0.75)
            qt_test.mouseClick(
                window.slider,
                QtCore.Qt.MouseButton.LeftButton,
                QtCore.Qt.KeyboardModifier.NoModifier,
                QtCore.QPoint(click_x, window.slider.height() // 2),
            )
            (jumped,) = await wait_for_signal(window.frameShown)
            option = QtWidgets.QStyleOptionSlider()
            window.slider.initStyleOption(option)
            handle = window.slider.style().subControlRect(  # type: ignore[union-attr]
                QtWidgets.QStyle.ComplexControl.CC_Slider,
                option,
                QtWidgets.QStyle.SubControl.SC_SliderHandle,
                window.slider,
            )
            jumped = (jumped > 150, abs(handle.center().x() - click_x) <= 2, window.slider.hasFocus())
            keys = [
                await step(window, key.Key_End),
                await step(window, key.Key_Home),
                await step(window, key.Key_PageDown),
                await step(window, key.Key_PageUp),
                await step(window, key.Key_Right),
            ]
            key_click(window, key.Key_G, QtCore.Qt.KeyboardModifier.ControlModifier)
            visible = window.goto_box.isVisible()
            qt_test.keyClicks(window.goto_box, "0:05.005")
            qt_test.keyClick(window.goto_box, key.Key_Return)
            (by_time,) = await wait_for_signal(window.frameShown)
            time_text = window.time_label.text()
            key_click(window, key.Key_G, QtCore.Qt.KeyboardModifier.ControlModifier)
            qt_test.keyClicks(window.goto_box, "200")
            qt_test.keyClick(window.goto_box, key.Key_Return)
            (by_frame,) = await wait_for_signal(window.frameShown)
            window.go_to("soon")
            return [
                jumped,
                keys,
                visible,
                by_time,
                time_text,
                by_frame,
                window.frame_label.text(),
                window.status.currentMessage(),
                window.goto_box.isVisible(),
            ]
        finally:
            window.close()

    jumped, keys, visible, by_time, time_text, by_frame, label, message, still_visible = run(main())
    assert jumped == (True, True, False)
    assert keys == [239, 0, 24, 0, 1]
    assert visible
    assert (by_time, time_text) == (120, "00:00:05.005")  # 120 * 1001 / 24000 s
    assert (by_frame, label) == (200, "frame 200 / 239")
    assert "cannot go to 'soon'" in message
    assert not still_visible


#: Frames 0-4 last 0.1 s each, frames 5-9 0.5 s (a variable frame rate: fps 0).
VFR = """
import vapoursynth as vs
core = vs.core
fast = core.std.BlankClip(width=32, height=32, format=vs.GRAY8, length=5, fpsnum=10, fpsden=1)
slow = core.std.BlankClip(width=32, height=32, format=vs.GRAY8, length=5, fpsnum=2, fpsden=1)
clip = fast + slow
assert clip.fps == 0
clip.set_output()
"""


def test_variable_frame_rate_times(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "vfr.vpy"
    script.write_text(VFR)

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.loaded)
            timeline = window.timeline
            assert timeline is not None
            await wait_until(lambda: timeline.complete)
            window.seek(7)
            await wait_for_signal(window.frameShown)
            await wait_until(lambda: window.time_label.text() != "--:--:--.---")
            at7 = window.time_label.text()
            window.go_to("1.2s")
            (n,) = await wait_for_signal(window.frameShown)
            return [at7, n, dict(window.panel.clip.rows())["Length"]]
        finally:
            window.close()

    assert run(main()) == ["00:00:01.500", 6, "00:00:03.000"]


def test_rendering_state_is_visible_while_a_frame_is_pending(policy: Policy, tmp_path: Path) -> None:
    from vsqt_helpers import GATES, Gate

    gate = GATES["slow-frame"] = Gate()
    script = tmp_path / "slow.vpy"
    script.write_text(
        "import vapoursynth as vs\nimport vsqt_helpers\n"
        "clip = vs.core.std.BlankClip(width=32, height=32, format=vs.GRAY8, length=10)\n"
        "def select(n):\n"
        "    if n == 5:\n"
        "        vsqt_helpers.GATES['slow-frame'].wait()\n"
        "    return clip\n"
        "vs.core.std.FrameEval(clip, select).set_output()\n"
    )

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            idle = (window.rendering, window.state_label.text())
            window.seek(5)
            await gate.reached()
            pending = (window.rendering, window.state_label.text(), window.state_label.isVisible())
            gate.open()
            (n,) = await wait_for_signal(window.frameShown)
            return [idle, pending, (n, window.rendering, window.state_label.text())]
        finally:
            gate.open()
            window.close()

    try:
        assert run(main()) == [(False, ""), (True, "rendering...", True), (5, False, "")]
    finally:
        del GATES["slow-frame"]


def test_playback_speed_and_modes(policy: Policy, tmp_path: Path) -> None:
    """ "every frame" shows each frame in turn; "keep time" skips frames that come too late (a
    1000 fps clip played at 4x cannot be shown in time: frames are due every 0.25 ms)."""
    script = tmp_path / "fast.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "vs.core.std.BlankClip(width=32, height=32, format=vs.GRAY8, length=400, fpsnum=1000).set_output()\n"
    )

    async def play_through(window: PreviewWindow) -> list[int]:
        shown: list[int] = []
        window.frameShown.connect(shown.append)
        window.seek(0)
        await wait_for_signal(window.frameShown)
        shown.clear()
        window.play()
        await wait_until(lambda: not window.playing)
        window.frameShown.disconnect(shown.append)
        return shown

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            window.speed_box.setCurrentIndex(window.speed_box.findText("4x"))
            every = await play_through(window)
            window.mode_box.setCurrentText("keep time")
            kept = await play_through(window)
            return [window.speed, window.mode, every, kept]
        finally:
            window.close()

    speed, mode, every, kept = run(main())
    assert (speed, mode) == (4, "keep time")
    assert every == list(range(1, 400))
    assert kept == sorted(set(kept))
    assert kept[-1] == 399
    assert len(kept) < 399  # late frames were skipped


#: Frame n carries Frame=n and a per-frame string; BT.709 as the builtin clip.
PROPS = """
import vapoursynth as vs
core = vs.core
clip = core.std.BlankClip(width=64, height=48, format=vs.YUV420P8, length=20, fpsnum=25)
clip = core.std.SetFrameProps(clip, _Matrix=1, _Transfer=1, _Primaries=1)
def tag(n, f):
    f = f.copy()
    f.props["Frame"] = n
    f.props["Note"] = f"frame {n} note"
    return f
core.std.ModifyFrame(clip, clip, tag).set_output()
"""


def test_frame_properties_panel_and_clip_info(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "props.vpy"
    script.write_text(PROPS)

    async def main() -> list[object]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            await wait_until(lambda: ("Frame", "0") in window.panel.props.rows())
            first = dict(window.panel.props.rows())
            window.seek(13)
            await wait_for_signal(window.frameShown)
            await wait_until(lambda: ("Frame", "13") in window.panel.props.rows())
            return [first, dict(window.panel.props.rows()), dict(window.panel.clip.rows())]
        finally:
            window.close()

    first, later, info = run(main())
    assert first["Note"] == "frame 0 note"
    assert later["Note"] == "frame 13 note"
    assert later["_Matrix"] == "1 (MATRIX_BT709)"
    assert later["_Primaries"] == "1 (PRIMARIES_BT709)"
    assert info["Format"] == "YUV420P8"
    assert info["Size"] == "64x48"
    assert info["Frame rate"] == "25 (25.000 fps)"
    assert info["Frames"] == "20"
    assert info["Length"] == "00:00:00.800"
    assert info["Matrix"] == "1 (MATRIX_BT709)"
    assert info["Transfer"] == "1 (TRANSFER_BT709)"


def test_snapshot_to_png_and_clipboard_named_after_script_output_and_frame(
    policy: Policy, tmp_path: Path
) -> None:
    script = tmp_path / "outputs.vpy"
    script.write_text(OUTPUTS)
    key = QtCore.Qt.Key
    ctrl = QtCore.Qt.KeyboardModifier.ControlModifier

    async def main() -> list[object]:
        window = PreviewWindow(policy, script, 1, snapshot_dir=tmp_path / "shots")
        window.resize(960, 640)
        window.show()
        try:
            await wait_for_signal(window.frameShown)
            window.seek(12)
            await wait_for_signal(window.frameShown)
            (tmp_path / "shots").mkdir()
            saved: list[str] = []
            window.snapshotSaved.connect(saved.append)
            key_click(window, key.Key_S, ctrl)  # saves at once (the signal comes before the key returns)
            (path,) = saved
            key_click(window, key.Key_C, ctrl)
            clipboard = QtWidgets.QApplication.clipboard()
            assert clipboard is not None
            image = QtGui.QImage(clipboard.image())
            return [path, window.status.currentMessage(), image.size(), image.pixelColor(5, 5).getRgb()[:3]]
        finally:
            window.close()

    path, name, size, color = run(main())
    assert path == str(tmp_path / "shots" / "outputs-out1-frame000012.png")
    saved = QtGui.QImage(path)
    assert (saved.width(), saved.height()) == (160, 120)
    assert saved.pixelColor(80, 60).getRgb()[:3] == (0, 0, 255)
    assert name == "copied outputs-out1-frame000012.png to the clipboard"
    assert size == QtCore.QSize(160, 120)
    assert color == (0, 0, 255)


def test_script_arguments(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "args.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "vs.core.std.BlankClip(width=32, height=32, format=vs.RGB24, color=[int(red), 0, 0]).set_output()\n"
    )

    async def main() -> tuple[int, int, int]:
        window = PreviewWindow(policy, script, args={"red": "77"})
        window.show()
        try:
            await wait_for_signal(window.frameShown)
            return center_color(window)
        finally:
            window.close()

    assert run(main()) == (77, 0, 0)


def test_auto_reload_on_script_or_local_module_change_keeps_output_frame_and_zoom(
    policy: Policy, tmp_path: Path
) -> None:
    (tmp_path / "levels.py").write_text("RED = 50\n")
    script = tmp_path / "watched.vpy"
    script.write_text(
        "import vapoursynth as vs\nfrom levels import RED\n"
        "blank = vs.core.std.BlankClip(width=32, height=32, format=vs.RGB24, length=30)\n"
        "vs.core.std.BlankClip(blank, color=[RED, 0, 0]).set_output(0)\n"
        "vs.core.std.BlankClip(blank, color=[0, RED, 0]).set_output(1)\n"
    )

    async def main() -> list[object]:
        window = PreviewWindow(policy, script)  # auto-reload is on by default
        window.show()
        try:
            await wait_for_signal(window.frameShown)
            on_by_default = window.auto_reload_box.isChecked()
            watched = sorted(Path(f).name for f in window.watcher.files)
            window.select_output(1)
            await wait_for_signal(window.frameShown)
            window.seek(21)
            await wait_for_signal(window.frameShown)
            window.view.set_zoom(2.0)
            # The frame may be shown before the test awaits it after `loaded`: listen from now on.
            shown = next_emission(window.frameShown)
            (tmp_path / "levels.py").write_text("RED = 150\n")  # the local module changes
            await wait_for_signal(window.loaded)
            (n,) = await asyncio.wait_for(shown, STEP_TIMEOUT)
            after_module = (n, window.output, window.view.zoom, window.view.image.pixelColor(1, 1).green())  # type: ignore[union-attr]
            shown = next_emission(window.frameShown)
            script.write_text(script.read_text().replace("[0, RED, 0]", "[0, RED + 10, 0]"))
            await wait_for_signal(window.loaded)
            await asyncio.wait_for(shown, STEP_TIMEOUT)
            after_script = window.view.image.pixelColor(1, 1).green()  # type: ignore[union-attr]
            window.auto_reload_box.setChecked(False)
            return [on_by_default, watched, after_module, after_script, window.watcher.enabled]
        finally:
            window.close()

    on_by_default, watched, after_module, after_script, enabled = run(main())
    assert on_by_default
    assert watched == ["levels.py", "watched.vpy"]
    assert after_module == (21, 1, 2.0, 150)
    assert after_script == 160
    assert not enabled


def test_per_script_state_is_remembered_between_runs(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "outputs.vpy"
    script.write_text(OUTPUTS)
    state = tmp_path / "state" / "previewer.json"

    async def first() -> None:
        window = PreviewWindow(policy, script, None, state_file=state)
        window.show()
        try:
            await wait_for_signal(window.frameShown)
            window.select_output(1)
            await wait_for_signal(window.frameShown)
            window.seek(33)
            await wait_for_signal(window.frameShown)
            window.view.set_zoom(3.0)
        finally:
            window.close()

    async def second() -> tuple[int, int, float | None]:
        window = PreviewWindow(policy, script, None, state_file=state)
        window.show()
        try:
            await wait_for_signal(window.frameShown)
            return window.output, window.current_frame, window.view.zoom
        finally:
            window.close()

    run(first())
    assert state.exists()
    assert run(second()) == (1, 33, 3.0)


def test_f1_shows_the_shortcuts(policy: Policy) -> None:
    from vsengine_qt._help import SHORTCUTS

    async def main() -> tuple[bool, list[str]]:
        window = await open_window(policy)
        try:
            await wait_for_signal(window.frameShown)
            key_click(window, QtCore.Qt.Key.Key_F1)
            dialog = window.help_dialog
            assert dialog is not None
            table = dialog.table
            return dialog.isVisible(), [table.item(row, 0).text() for row in range(table.rowCount())]  # type: ignore[union-attr]
        finally:
            window.close()

    visible, keys = run(main())
    assert visible
    assert keys[: len(SHORTCUTS)] == [k for k, _, _ in SHORTCUTS]
    assert "Ctrl+G" in keys
    assert "F1" in keys


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        ("KeyboardInterrupt()", "KeyboardInterrupt"),
        ("type('Custom', (BaseException,), {})('a custom BaseException')", "Custom: a custom BaseException"),
    ],
    ids=["keyboard-interrupt", "custom-base-exception"],
)
def test_a_script_raising_a_base_exception_shows_the_error_page(
    policy: Policy, tmp_path: Path, raised: str, shown: str
) -> None:
    """Issue 13 item 12: the previewer goes on (no exit 130), shows the error and emits failed."""
    script = tmp_path / "base.vpy"
    script.write_text(f"import vapoursynth as vs\nraise {raised}\n")

    async def main() -> tuple[str, bool, str]:
        window = await open_window(policy, script)
        try:
            (text,) = await wait_for_signal(window.failed)
            return str(text), window.pages.currentWidget() is window.error_label, window.error_label.text()
        finally:
            window.close()

    text, error_page, label = run(main())
    assert shown in text
    assert error_page
    assert label == text


def test_the_frame_label_says_which_frame_failed(policy: Policy, tmp_path: Path) -> None:
    script = tmp_path / "frames.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "clip = vs.core.std.BlankClip(length=10)\n"
        "def select(n):\n"
        "    if n == 4:\n"
        "        raise RuntimeError('no')\n"
        "    return clip\n"
        "vs.core.std.FrameEval(clip, select).set_output()\n"
    )

    async def main() -> str:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            window.seek(4)
            await wait_for_signal(window.failed)
            return window.frame_label.text()
        finally:
            window.close()

    assert run(main()) == "frame 4 / 9 failed"


#: The same stored values with each colour range, one output each. VapourSynth R81's property is
#: ``_Range`` with 0 = limited (``vs.RANGE_LIMITED``), 1 = full; the deprecated ``_ColorRange``
#: counted the other way round (0 = full) and R81 stores it as ``_Range``. White-level luma 235 and
#: neutral chroma, a 10-bit full-range grey, grey and RGB clips marked limited or not marked at all.
RANGES = """
import warnings
import vapoursynth as vs
core = vs.core
def blank(fmt, color, **props):
    clip = core.std.BlankClip(width=32, height=32, format=fmt, color=color, length=2)
    clip = core.std.RemoveFrameProps(clip, ["_Range", "_ColorRange"])
    return core.std.SetFrameProps(clip, **props) if props else clip
blank(vs.YUV444P8, [235, 128, 128], _Range=vs.RANGE_LIMITED).set_output(0)
blank(vs.YUV444P8, [235, 128, 128], _Range=vs.RANGE_FULL).set_output(1)
blank(vs.YUV420P10, [940, 512, 512], _Range=vs.RANGE_FULL).set_output(2)
blank(vs.GRAY8, [235], _Range=vs.RANGE_LIMITED).set_output(3)
blank(vs.GRAY8, [235]).set_output(4)
blank(vs.RGB24, [235, 16, 128], _Range=vs.RANGE_LIMITED).set_output(5)
blank(vs.RGB24, [235, 16, 128]).set_output(6)
with warnings.catch_warnings(action="ignore", category=DeprecationWarning):
    blank(vs.YUV444P8, [235, 128, 128], _ColorRange=0).set_output(7)
"""


def test_limited_and_full_range_clips_are_shown_in_their_range(policy: Policy, tmp_path: Path) -> None:
    """Limited range maps 16-235 to black-white, full range shows the values as they are; the
    pixel readout stays in the source's values and the clip info names the range."""
    script = tmp_path / "ranges.vpy"
    script.write_text(RANGES)

    async def main() -> list[tuple[tuple[int, int, int], str, str]]:
        window = await open_window(policy, script)
        seen = []
        try:
            await wait_for_signal(window.frameShown)
            for output in range(8):
                if output:
                    window.select_output(output)
                    await wait_for_signal(window.frameShown)
                await wait_until(lambda: window.frame is not None)
                if output == 0:  # the cursor stays on the frame's centre pixel for every output
                    mouse_move(window.view, window.view.image_rect().center())
                    await wait_until(lambda: window.pixel_label.text() != "")
                readout = window.pixel_label.text().split("  ", 1)[1]
                seen.append((center_color(window), readout, dict(window.panel.clip.rows())["Range"]))
            return seen
        finally:
            window.close()

    seen = run(main())
    assert seen == [
        ((255, 255, 255), "Y 235  U 128  V 128", "0 (RANGE_LIMITED)"),
        ((235, 235, 235), "Y 235  U 128  V 128", "1 (RANGE_FULL)"),
        ((234, 234, 234), "Y 940  U 512  V 512", "1 (RANGE_FULL)"),
        ((255, 255, 255), "Y 235", "0 (RANGE_LIMITED)"),
        ((235, 235, 235), "Y 235", "unset"),
        ((255, 0, 130), "R 235  G 16  B 128", "0 (RANGE_LIMITED)"),
        ((235, 16, 128), "R 235  G 16  B 128", "unset"),
        ((235, 235, 235), "Y 235  U 128  V 128", "1 (RANGE_FULL)"),  # R81 stores _ColorRange as _Range
    ]


def test_the_docs_screenshots_are_made_by_a_script(tmp_path: Path) -> None:
    """docs/vsengine-qt/screenshots.py makes the pictures of previewer.md: the window on the built-in
    clip and the wipe view of two outputs, showing the colour bars."""
    script = Path(__file__).resolve().parents[2] / "docs" / "vsengine-qt" / "screenshots.py"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": BINDING}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("preview-window.png", "preview-wipe.png"):
        image = QtGui.QImage(str(tmp_path / name))
        assert (image.width(), image.height()) == (1280, 720), name
        middle = image.height() // 3  # through the bars of the frame
        colors = {image.pixelColor(x, middle).getRgb()[:3] for x in range(0, image.width(), 4)}
        assert len(colors) >= len(BARS), (name, len(colors))


def test_the_window_fits_a_laptop_screen(policy: Policy, tmp_path: Path) -> None:
    """With every control shown (outputs, audio, auto-reload), the window can be as small as 1024x600:
    it fits a 1366x768 screen with room to spare, on Qt 5's wider fonts too."""
    script = tmp_path / "all-controls.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "clip = vs.core.std.BlankClip(width=640, height=360, format=vs.RGB24, length=10)\n"
        "clip.set_output(0)\n"
        "vs.core.std.Invert(clip).set_output(1)\n"
        "vs.core.std.BlankAudio(length=48000).set_output(2)\n"
    )

    async def main() -> tuple[QtCore.QSize, bool]:
        window = await open_window(policy, script)
        try:
            await wait_for_signal(window.frameShown)
            return window.minimumSizeHint(), window.audio_controls.isVisible()
        finally:
            window.close()

    smallest, audio_shown = run(main())
    assert audio_shown
    assert smallest.width() <= 1024, smallest
    assert smallest.height() <= 600, smallest
