"""The previewer window, driven like a user would: screenshots (QWidget.grab) whose pixels must match
the known clip, seeking, playing, reloading without leaks, and errors shown in the window."""

from __future__ import annotations

import asyncio
import gc
import importlib
import weakref
from typing import TYPE_CHECKING

import pytest
from vsqt_helpers import STEP_TIMEOUT, run, wait_for_signal

from vsengine.loops import NO_LOOP, get_loop
from vsengine_qt import PreviewWindow, setup
from vsengine_qt._qt import BINDING, QtCore, QtGui, QtWidgets, exec_
from vsengine_qt._testclip import BARS, HEIGHT, MARKER_PERIOD, STRIP_HEIGHT, marker_frame

if TYPE_CHECKING:
    from pathlib import Path

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


async def open_window(policy: Policy, script: str | Path | None = None, output: int = 0) -> PreviewWindow:
    window = PreviewWindow(policy, script, output)
    window.resize(960, 640)
    window.show()
    return window


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
            await asyncio.sleep(0.3)
            _, marker = screenshot_checks(window)
            return stopped_at, shown, marker
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
        window = await open_window(policy, script)
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
        QtCore.QTimer.singleShot(int(STEP_TIMEOUT * 1000), qapp.quit)
        exec_(qapp)
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
    """Reloading during a slow load abandons it: its environment is disposed once the script is done."""
    script = tmp_path / "slow.vpy"
    script.write_text(
        "import time\nimport vapoursynth as vs\ntime.sleep(0.3)\n"
        "vs.core.std.BlankClip(width=64, height=64, format=vs.RGB24, color=[9, 9, 9]).set_output()\n"
    )

    async def main() -> tuple[int, bool]:
        window = await open_window(policy, script)
        try:
            await asyncio.sleep(0.05)  # the first load is still running the script
            window.reload()
            await wait_for_signal(window.frameShown)
            image = window.view.image
            assert image is not None
            await asyncio.sleep(0.5)  # the abandoned load finishes and disposes its environment
            return image.pixelColor(1, 1).red(), window.source is not None
        finally:
            window.close()

    assert run(main()) == (9, True)
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
