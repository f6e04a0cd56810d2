"""``vsengine-qt preview`` / ``python -m vsengine_qt preview``: headless in a subprocess, and the window."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest
from vsqt_helpers import STEP_TIMEOUT, run

from vsengine.loops import NO_LOOP, get_loop
from vsengine_qt import PreviewWindow
from vsengine_qt._cli import display_available, main
from vsengine_qt._headless import parse_range, render_headless
from vsengine_qt._png import write_png
from vsengine_qt._qt import BINDING, QtCore, QtGui, QtWidgets
from vsengine_qt._testclip import BARS, HEIGHT, MARKER_PERIOD, STRIP_HEIGHT, WIDTH, marker_frame

if TYPE_CHECKING:
    from pathlib import Path

    from vsengine.policy import Policy


#: What asyncio's debug mode (PYTHONDEVMODE=1, as in the nox sessions) writes to stderr when a step of
#: the event loop took longer than 100 ms: on a loaded machine any step can (not the previewer's lines).
SLOW_CALLBACK_REPORT = re.compile(r"Executing <[^\n]*> took \d+\.\d+ seconds\n")


def preview(*args: str, display: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `python -m vsengine_qt preview ARGS`; its stderr without asyncio's slow-callback reports."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["QTINTERBINDING"] = BINDING
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    result = subprocess.run(
        [sys.executable, "-m", "vsengine_qt", "preview", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )
    result.stderr = SLOW_CALLBACK_REPORT.sub("", result.stderr)
    return result


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
        # Issue 13 item 15: a reversed range says so (it said "outside the clip").
        (["--frames", "10-5"], "bad --frames '10-5': START (10) is after END (5)"),
        (["--frames", "0-240"], "bad --frames '0-240': the clip has 240 frames (0 to 239)"),
        (["--frames", "abc"], "bad --frames 'abc': expected START-END"),
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
    assert parse_range("-2", 10) == (0, 3)
    with pytest.raises(ValueError, match="the clip has 10 frames"):
        parse_range("5-10", 10)
    with pytest.raises(ValueError, match=r"START \(5\) is after END \(2\)"):
        parse_range("5-2", 10)


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
    # As in a new application (the tests' fixture turns it off): closing the last window quits.
    qapp.setQuitOnLastWindowClosed(True)
    try:
        assert main(["preview", "--window"]) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(False)
    assert guard.isActive(), "the previewer ran until the 30 s guard quit it, not until its window closed"
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


FAILS_AT_3 = """
import vapoursynth as vs
clip = vs.core.std.BlankClip(width=8, height=8, format=vs.RGB24, length=10)
def select(n):
    if n == 3:
        raise KeyError(f"no frame {n} here")
    return clip
vs.core.std.FrameEval(clip, select).set_output()
"""


def test_headless_frame_error_names_the_frame_and_shows_the_scripts_traceback(tmp_path: Path) -> None:
    """Issue 13 item 13: ``frame N: <Type>: <message>``, the script's traceback, a true progress line."""
    script = tmp_path / "fails.vpy"
    script.write_text(FAILS_AT_3)
    result = preview(str(script), "--headless", "--png-dir", str(tmp_path / "png"))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    at = lines.index("vsengine-qt: frame 3: KeyError: 'no frame 3 here'")
    assert lines[at + 1] == "Traceback (most recent call last):"
    assert f'File "{script}", line 6, in select' in result.stderr
    assert lines[-1] == "KeyError: 'no frame 3 here'"
    assert "vapoursynth.pyx" not in result.stderr
    assert "_frames.py" not in result.stderr  # no internal traceback
    # The last progress line says what was done: frames 0-2 written, no more, no less.
    assert lines[at - 1].startswith("["), lines
    assert " 3/10 frames " in lines[at - 1], lines
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [f"frame{n:06d}.png" for n in range(3)]


def test_headless_says_and_clears_what_an_earlier_run_left(tmp_path: Path) -> None:
    png = tmp_path / "png"
    png.mkdir()
    for n in (0, 1, 50, 51):  # a longer earlier run
        (png / f"frame{n:06d}.png").write_bytes(b"old")
    (png / ".frame000052.png.0a1b2c3d.partial").write_bytes(b"interrupted")
    (png / "notes.txt").write_text("mine")
    result = preview("--headless", "--frames", "0-1", "--png-dir", str(png))
    assert result.returncode == 0, result.stderr
    assert f"removed 5 PNGs of an earlier run from {png}" in result.stdout
    assert f"{png} also holds 1 other files (left alone)" in result.stdout
    assert sorted(p.name for p in png.iterdir()) == ["frame000000.png", "frame000001.png", "notes.txt"]
    assert QtGui.QImage(str(png / "frame000001.png")).width() == WIDTH


def test_headless_script_arguments(tmp_path: Path) -> None:
    """``--arg name=value`` sets a global of the script, a str, as vspipe does."""
    script = tmp_path / "args.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "assert isinstance(level, str) and isinstance(size, str), (level, size)\n"
        "vs.core.std.BlankClip(width=int(size), height=8, format=vs.GRAY8, color=[int(level)], length=1)"
        ".set_output()\n"
    )
    result = preview(
        str(script), "--headless", "-a", "level=77", "--arg", "size=24", "--png-dir", str(tmp_path / "png")
    )
    assert result.returncode == 0, result.stderr
    image = QtGui.QImage(str(tmp_path / "png" / "frame000000.png"))
    assert image.width() == 24
    assert image.pixelColor(3, 3).red() == 77
    bad = preview(str(script), "--headless", "--arg", "no-equals")
    assert bad.returncode == 2
    assert "expected NAME=VALUE" in bad.stderr


def png_zlib_level(path: Path) -> int:
    """The compression level class zlib wrote into the PNG's image data: 0 for the fastest levels
    (0-1), 1 fast (2-5), 2 the default (6, what ``QImage.save`` uses), 3 the slowest (7-9)."""
    data = path.read_bytes()
    at = data.index(b"IDAT") + 4
    return data[at + 1] >> 6  # the FLEVEL bits of the zlib header's second byte


def test_headless_pngs_are_encoded_off_the_qt_thread_in_parallel_at_a_fast_level(
    policy: Policy, tmp_path: Path
) -> None:
    """The Qt thread only hands images over: PNGs are written by other threads, two at once (the
    first two writes wait for each other: written one by one, or on the Qt thread, they never meet
    and the run fails), and compressed at zlib's fastest level."""
    qt_thread = threading.get_ident()
    writers: list[int] = []
    meet = threading.Barrier(2, timeout=STEP_TIMEOUT)
    lock = threading.Lock()

    def write_started(code: object, offset: int) -> None:
        with lock:
            writers.append(threading.get_ident())
            first_two = len(writers) <= 2
        if first_two:
            meet.wait()

    tool = 4  # a tool id CPython leaves free for tools like this one
    events = sys.monitoring.events
    sys.monitoring.use_tool_id(tool, "png-writers")
    try:
        sys.monitoring.register_callback(tool, events.PY_START, write_started)
        sys.monitoring.set_local_events(tool, write_png.__code__, events.PY_START)
        stats = run(
            render_headless(policy, None, 0, "0-7", tmp_path, progress=io.StringIO(), notices=io.StringIO())
        )
    finally:
        sys.monitoring.set_local_events(tool, write_png.__code__, 0)
        sys.monitoring.register_callback(tool, events.PY_START, None)
        sys.monitoring.free_tool_id(tool)
    assert stats.frames == 8
    assert len(writers) == 8
    assert qt_thread not in writers
    assert len(set(writers)) >= 2
    levels = {png_zlib_level(path) for path in tmp_path.glob("frame*.png")}
    assert levels == {0}


def _start_preview(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["QTINTERBINDING"] = BINDING
    return subprocess.Popen(
        [sys.executable, "-m", "vsengine_qt", "preview", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    """Wait (on the child's own progress, not a clock) until the child created ``path``."""
    import select

    while not path.exists():
        assert process.poll() is None, process.communicate()
        select.select([], [], [], 0.01)


@pytest.mark.parametrize("where", ["deadlocked-script", "slow-frames"])
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_in_headless_preview_exits_at_once_with_interrupted(
    tmp_path: Path, where: str, attempt: int
) -> None:
    """Issue 13 item 14: rc 130 and ``interrupted``, no traceback, on the first Ctrl+C; a script
    that never returns (a deadlock) does not hold the process."""
    started = tmp_path / "started"
    if where == "deadlocked-script":
        body = f"open({str(started)!r}, 'w').close()\nimport threading\nthreading.Event().wait()\n"
    else:
        body = (
            "import time\n"
            "clip = vs.core.std.BlankClip(width=8, height=8, format=vs.GRAY8, length=1000)\n"
            "def slow(n):\n"
            f"    open({str(started)!r}, 'w').close()\n"
            "    time.sleep(0.5)\n"
            "    return clip\n"
            "vs.core.std.FrameEval(clip, slow).set_output()\n"
        )
    script = tmp_path / "script.vpy"
    script.write_text("import vapoursynth as vs\n" + body)
    process = _start_preview(str(script), "--headless", "--png-dir", str(tmp_path / "png"))
    try:
        _wait_for_file(started, process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert err.rstrip().endswith("vsengine-qt: interrupted"), err
    assert "Traceback" not in err
    assert not list((tmp_path / "png").glob(".*.partial")) if (tmp_path / "png").exists() else True


#: Runs the previewer's command line (``vsengine-qt preview --window``) with a user's slot on the
#: window's frameShown that raises, and closes the window after the next slot.
SLOT_RAISES = """
import sys
from vsengine_qt._cli import choose_binding
choose_binding()
from vsengine_qt._cli import main
from vsengine_qt._qt import QtCore, QtWidgets
from vsengine_qt._viewer import PreviewWindow

def bad_slot(n):
    raise RuntimeError(f"an error in a user's slot at frame {n}")

def close_later(n):
    window = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, PreviewWindow)][0]
    print("status bar:", window.status.currentMessage(), flush=True)
    QtCore.QTimer.singleShot(0, QtWidgets.QApplication.closeAllWindows)

def hook():
    windows = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, PreviewWindow)]
    if not windows:
        QtCore.QTimer.singleShot(10, hook)
        return
    windows[0].frameShown.connect(bad_slot)
    windows[0].frameShown.connect(close_later)

app = QtWidgets.QApplication(["test"])
QtCore.QTimer.singleShot(0, hook)
sys.exit(main(["preview", "--window"]))
"""


@pytest.mark.parametrize("attempt", range(4))
def test_an_error_in_a_slot_is_reported_not_an_abort(tmp_path: Path, attempt: int) -> None:
    """Issue 13 item 4: PyQt aborts on an exception in a slot unless sys.excepthook is replaced;
    the previewer reports it and goes on (the window closes normally afterwards: rc 0)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QTINTERBINDING"] = BINDING
    env["QT_QPA_PLATFORM"] = "offscreen"
    # Dev mode's debug allocator catches a use of freed memory at exit: PySide6 left a weak reference
    # to the window dangling (docs/reliability.md, pyside6-weakref-at-finalization).
    env["PYTHONDEVMODE"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", SLOT_RAISES],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "vsengine-qt: uncaught error (the previewer goes on):" in result.stderr
    assert "RuntimeError: an error in a user's slot at frame 0" in result.stderr
    assert "status bar: error: RuntimeError: an error in a user's slot at frame 0" in result.stdout
