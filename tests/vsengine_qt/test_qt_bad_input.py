"""Bad input to vsengine-qt's public entry points: wrong types (an audio node where video is needed,
a frame of the wrong format), wrong states (no running loop, a closed stream, a policy already
registered), frame numbers out of range, and scripts that are missing, broken or have no video.
Each gives a clear exception (or exit status 1 and a one-line message from the CLI) naming the
problem, and leaves nothing behind.

Each case has an id that docs/reliability.md lists in its table (a test checks both agree).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs
from test_qt_cli import preview
from vsqt_helpers import in_thread, run

import qtinter
import vsengine_qt
from vsengine.loops import NO_LOOP, get_loop
from vsengine.policy import ContextVarStore, GlobalStore, Policy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from vsengine_qt._qt import QtWidgets

DOC = Path(__file__).parents[2] / "docs" / "reliability.md"


@pytest.fixture
def clips(qapp: QtWidgets.QApplication) -> Iterator[dict[str, Any]]:
    with Policy(GlobalStore()) as policy, policy.new_environment() as env, env.use():
        made: dict[str, Any] = {
            "video": vs.core.std.BlankClip(width=16, height=16, format=vs.YUV420P8, length=10),
            "audio": vs.core.std.BlankAudio(length=100),
        }
        with made["video"].get_frame(0) as frame:
            made["yuv frame"] = frame.copy()
        yield made
        made.clear()


#: (id, call(clips), exception type, phrase) outside a running loop.
OUTSIDE: list[tuple[str, Callable[[dict[str, Any]], object], type, str]] = [
    (
        "vq-qimage-node-audio",
        lambda c: vsengine_qt.qimage_node(c["audio"]),
        TypeError,
        "an audio node cannot be converted to images",
    ),
    (
        "vq-qimage-node-type",
        lambda c: vsengine_qt.qimage_node("x"),
        TypeError,
        "expected a vapoursynth.VideoNode",
    ),
    (
        "vq-to-qimage-yuv",
        lambda c: vsengine_qt.frame_to_qimage(c["yuv frame"]),
        ValueError,
        "convert the node with vsengine_qt.qimage_node(node) first",
    ),
    (
        "vq-to-qimage-type",
        lambda c: vsengine_qt.frame_to_qimage("x"),
        TypeError,
        "expected a vapoursynth.VideoFrame",
    ),
    (
        "vq-stream-audio",
        lambda c: vsengine_qt.FrameStream(c["audio"]),
        TypeError,
        "frames are delivered for video nodes only",
    ),
    (
        "vq-frames-audio",
        lambda c: vsengine_qt.frames(c["audio"]),
        TypeError,
        "frames are delivered for video nodes only",
    ),
    (
        "vq-frames-no-loop",
        lambda c: vsengine_qt.frames(c["video"]),
        RuntimeError,
        "frames() delivers through the running asyncio loop",
    ),
]


@pytest.mark.parametrize(("call", "error", "phrase"), [pytest.param(*c[1:], id=c[0]) for c in OUTSIDE])
def test_bad_input_outside_a_loop(
    clips: dict[str, Any], call: Callable[[dict[str, Any]], object], error: type[BaseException], phrase: str
) -> None:
    with pytest.raises(error, match=re.escape(phrase)):
        call(clips)


#: (id, call(stream, clip), exception type, phrase) on a FrameStream of a 10-frame clip in a running loop.
STREAM: list[tuple[str, Callable[[Any, vs.VideoNode], object], type, str]] = [
    ("vq-seek-negative", lambda s, c: s.seek(-1), IndexError, "start frame -1 is outside the clip (0..9)"),
    (
        "vq-seek-end-before-start",
        lambda s, c: s.seek(5, 2),
        IndexError,
        "end frame 2 must lie between start (5)",
    ),
    (
        "vq-frames-start-out-of-range",
        lambda s, c: vsengine_qt.frames(c, 20),
        IndexError,
        "start frame 20 is outside the clip",
    ),
    (
        "vq-frames-prefetch",
        lambda s, c: vsengine_qt.frames(c, prefetch=-1),
        ValueError,
        "prefetch must be at least 1, got -1",
    ),
    ("vq-seek-closed", lambda s, c: (s.close(), s.seek(0)), RuntimeError, "this frame pump is closed"),
]


@pytest.mark.parametrize(("call", "error", "phrase"), [pytest.param(*c[1:], id=c[0]) for c in STREAM])
def test_bad_input_to_a_frame_stream(
    clips: dict[str, Any],
    call: Callable[[Any, vs.VideoNode], object],
    error: type[BaseException],
    phrase: str,
) -> None:
    async def main() -> list[int]:
        stream = vsengine_qt.FrameStream(clips["video"])
        try:
            with pytest.raises(error, match=re.escape(phrase)):
                call(stream, clips["video"])
            assert not stream.running  # the bad seek started nothing
            # The machinery still delivers the frames asked for.
            return [d.n async for d in vsengine_qt.frames(clips["video"], 0, 3)]
        finally:
            stream.close()

    assert run(main()) == [0, 1, 2]


def test_setup_with_a_policy_already_registered(qapp: QtWidgets.QApplication) -> None:
    """vq-setup-policy-registered: the error, and no loop or guest mode left set up."""
    with Policy(ContextVarStore()):
        with pytest.raises(RuntimeError, match="already a policy registered"):
            vsengine_qt.setup()
        assert get_loop() is NO_LOOP
        assert asyncio._get_running_loop() is None


def test_seek_with_a_frame_number_of_the_wrong_type(clips: dict[str, Any]) -> None:
    """vq-seek-type"""

    async def main() -> None:
        stream = vsengine_qt.FrameStream(clips["video"])
        try:
            with pytest.raises(TypeError, match="start"):
                stream.seek("1")
        finally:
            stream.close()

    run(main())


SCRIPTS = {
    "vq-cli-syntax": ("x = (\n", "line 1: SyntaxError: '(' was never closed"),
    "vq-cli-script-raises": ("raise ValueError('boom in script')\n", "ValueError: boom in script"),
    "vq-cli-no-output": ("x = 1\n", "has no output 0 (its outputs: none)"),
    "vq-cli-audio-output": (
        "import vapoursynth as vs\nvs.core.std.BlankAudio().set_output()\n",
        "is audio: the previewer shows video outputs only",
    ),
}


@pytest.mark.parametrize(("source", "phrase"), [pytest.param(*v, id=k) for k, v in SCRIPTS.items()])
def test_preview_of_a_bad_script(tmp_path: Path, source: str, phrase: str) -> None:
    script = tmp_path / "bad.vpy"
    script.write_text(source)
    result = preview(str(script), "--headless", "--frames", "0-1", "--png-dir", str(tmp_path / "png"))
    assert result.returncode == 1
    assert phrase in result.stderr
    assert not list((tmp_path / "png").glob("*.png"))  # nothing written


def test_preview_of_a_missing_script(tmp_path: Path) -> None:
    """vq-cli-missing-script"""
    result = preview(str(tmp_path / "nope.vpy"), "--headless")
    assert result.returncode == 1
    assert "VapourSynth script not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_case_is_in_the_reliability_table() -> None:
    table = DOC.read_text()
    source = Path(__file__).read_text()
    ids = [c[0] for c in OUTSIDE] + [c[0] for c in STREAM] + list(SCRIPTS)
    ids += re.findall(r'"""(vq-[a-z0-9-]+)', source)
    missing = [i for i in ids if f"`{i}`" not in table]
    assert not missing, f"docs/reliability.md lacks rows for {missing}"


def test_setup_without_an_application() -> None:
    """vq-setup-no-app (in a child: the test process has its application)."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import {qtinter.bindings.__binding__}.QtCore\nimport vsengine_qt\nvsengine_qt.setup()",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "RuntimeError: vsengine_qt.setup() needs a QApplication (or QCoreApplication)" in result.stderr


def test_setup_twice_leaves_the_first_session_working(qapp: QtWidgets.QApplication) -> None:
    """vq-setup-twice"""
    with vsengine_qt.setup() as session:
        loop = get_loop()
        with pytest.raises(RuntimeError, match="already a policy registered"):
            vsengine_qt.setup()
        assert get_loop() is loop
        assert session.policy.new_environment().dispose() is None  # still registered and usable
    assert get_loop() is NO_LOOP


def test_qt_event_loop_on_a_closed_loop() -> None:
    """vq-event-loop-closed: a coroutine for a closed asyncio loop is refused, not left pending."""
    loop = qtinter.new_event_loop()
    loop.close()

    async def job() -> int:
        return 1

    adapter = vsengine_qt.QtEventLoop(loop=loop)
    future = in_thread(lambda: adapter.run_in_loop(job)).result(10)
    with pytest.raises(
        RuntimeError, match=re.escape("QtEventLoop has no running asyncio loop for this coroutine")
    ):
        future.result(timeout=10)


def test_qt_event_loop_with_a_bad_parent() -> None:
    """vq-event-loop-parent"""
    with pytest.raises(
        TypeError, match=re.escape("QtEventLoop(parent): parent must be a QObject or None, got int")
    ):
        vsengine_qt.QtEventLoop(42)  # type: ignore[arg-type]


def test_load_source_of_a_missing_script(qapp: QtWidgets.QApplication) -> None:
    """vq-load-source-missing"""

    async def main() -> None:
        with Policy(GlobalStore()) as policy, pytest.raises(FileNotFoundError, match="script not found"):
            await vsengine_qt.load_source(policy, "/nonexistent/x.vpy")

    run(main())


def test_preview_window_without_a_running_loop(qapp: QtWidgets.QApplication) -> None:
    """vq-preview-no-loop"""
    with Policy(GlobalStore()) as policy, pytest.raises(RuntimeError, match="setup"):
        vsengine_qt.PreviewWindow(policy)
