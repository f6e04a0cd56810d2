"""``vsengine-qt preview`` / ``python -m vsengine_qt preview``: headless in a subprocess, and the window."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from vsengine.loops import NO_LOOP, get_loop
from vsengine_qt import PreviewWindow
from vsengine_qt._cli import display_available, main
from vsengine_qt._headless import parse_range
from vsengine_qt._qt import BINDING, QtCore, QtGui, QtWidgets
from vsengine_qt._testclip import BARS, HEIGHT, MARKER_PERIOD, STRIP_HEIGHT, WIDTH, marker_frame

if TYPE_CHECKING:
    from pathlib import Path


def preview(*args: str, display: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["QTINTERBINDING"] = BINDING
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    return subprocess.run(
        [sys.executable, "-m", "vsengine_qt", "preview", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_headless_writes_pngs_of_the_builtin_clip_and_prints_frames_per_second(tmp_path: Path) -> None:
    # No --headless: without a display the previewer goes headless by itself.
    result = preview("--frames", "30-39", "--png-dir", str(tmp_path / "png"))
    assert result.returncode == 0, result.stderr
    assert "10 frames in" in result.stdout
    assert "frames/s" in result.stdout
    assert "10/10 frames" in result.stderr  # the progress bar
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert names == [f"frame{n:06d}.png" for n in range(30, 40)]
    for n in (30, 39):
        image = QtGui.QImage(str(tmp_path / "png" / f"frame{n:06d}.png"))
        assert (image.width(), image.height()) == (WIDTH, HEIGHT)
        level = image.pixelColor(WIDTH // 2, HEIGHT - STRIP_HEIGHT // 2).red()
        assert marker_frame(level) == n % MARKER_PERIOD
        bar_width = WIDTH // len(BARS)
        for i, expected in enumerate(BARS):
            color = image.pixelColor(i * bar_width + bar_width // 2, HEIGHT // 2)
            assert all(abs(a - b) <= 3 for a, b in zip(color.getRgb()[:3], expected, strict=True))


def test_headless_script_output_and_range(tmp_path: Path) -> None:
    script = tmp_path / "two.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "vs.core.std.BlankClip(width=64, height=32, format=vs.GRAY8, color=[50], length=5).set_output(0)\n"
        "vs.core.std.BlankClip(width=48, height=16, format=vs.RGB24, color=[0, 255, 0], length=8)"
        ".set_output(2)\n"
    )
    result = preview(
        str(script), "--headless", "--output", "2", "--frames", "6-", "--png-dir", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    assert "2 frames in" in result.stdout
    images = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in images] == ["frame000006.png", "frame000007.png"]
    image = QtGui.QImage(str(images[0]))
    assert (image.width(), image.height()) == (48, 16)
    assert image.pixelColor(47, 15).getRgb()[:3] == (0, 255, 0)


def test_headless_without_png_dir_only_measures(tmp_path: Path) -> None:
    result = preview("--headless", "--frames", "0-4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "5 frames in" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_headless_script_error_exits_1_with_the_traceback(tmp_path: Path) -> None:
    script = tmp_path / "bad.vpy"
    script.write_text("import vapoursynth as vs\nraise ValueError('broken on purpose')\n")
    result = preview(str(script), "--headless")
    assert result.returncode == 1
    assert "bad.vpy, line 2: ValueError: broken on purpose" in result.stderr
    assert "Traceback" in result.stderr
    assert "ResourceWarning" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "10-5"], "outside the clip"),
        (["--frames", "abc"], "must look like START-END"),
        (["--output", "4"], "has no output 4"),
    ],
)
def test_headless_bad_arguments(args: list[str], message: str) -> None:
    result = preview("--headless", *args)
    assert result.returncode == 1
    assert message in result.stderr


def test_missing_script_file(tmp_path: Path) -> None:
    result = preview(str(tmp_path / "nope.vpy"), "--headless")
    assert result.returncode == 1
    assert "nope.vpy" in result.stderr


def test_display_detection() -> None:
    assert not display_available({})
    assert not display_available({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})
    assert display_available({"DISPLAY": ":0"})
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"})
    assert display_available({"QT_QPA_PLATFORM": "xcb"})


def test_parse_range() -> None:
    assert parse_range(None, 10) == (0, 10)
    assert parse_range("2-4", 10) == (2, 5)
    assert parse_range("7-", 10) == (7, 10)
    assert parse_range("3", 10) == (3, 4)
    with pytest.raises(ValueError, match="outside"):
        parse_range("5-10", 10)


def test_window_mode_runs_until_the_window_closes(qapp: QtWidgets.QApplication) -> None:
    """``vsengine-qt preview --window``: the windowed previewer, in this process, closed by a 'user'."""
    shown: list[int] = []

    def close_after_a_frame() -> None:
        for widget in QtWidgets.QApplication.topLevelWidgets():
            if isinstance(widget, PreviewWindow) and widget.isVisible() and widget.view.image is not None:
                shown.append(widget.current_frame)
                widget.close()  # the last window: Qt quits app.exec()
                return
        QtCore.QTimer.singleShot(20, close_after_a_frame)

    QtCore.QTimer.singleShot(20, close_after_a_frame)
    guard = QtCore.QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(qapp.quit)
    guard.start(30_000)
    assert main(["preview", "--window"]) == 0
    guard.stop()
    assert shown == [0]
    assert get_loop() is NO_LOOP


def test_unwritable_png_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    result = preview("--headless", "--frames", "0-1", "--png-dir", str(not_a_directory))
    assert result.returncode == 1
    assert str(not_a_directory) in result.stderr
    assert "Traceback" not in result.stderr
