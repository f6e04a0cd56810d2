"""The `vsengine` command line, run as a real subprocess."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import vapoursynth as vs

from vsengine.policy import GlobalStore, Policy
from vsengine.video import render

FRAME = b"FRAME\n"

#: A script whose frame n is filled with the value 10 + n (GRAY8, 8x4, 20 frames), output 0,
#: and a 4:4:4 10-bit clip at output 1.
NUMBERED = """
import vapoursynth as vs
core = vs.core
frames = [core.std.BlankClip(width=8, height=4, format=vs.GRAY8, length=1, color=[10 + n]) for n in range(20)]
core.std.Splice(frames).set_output(0)
core.std.BlankClip(width=8, height=4, format=vs.YUV444P10, length=5, fpsnum=25).set_output(1)
"""


@dataclass
class Y4M:
    header: dict[str, str]
    extensions: list[str]
    frames: list[bytes]


def parse_y4m(stream: IO[bytes]) -> Y4M:
    """Parses a whole Y4M stream, checking every frame header and size."""
    line = stream.readline()
    assert line.startswith(b"YUV4MPEG2 "), line[:100]
    assert line.endswith(b"\n"), line[:100]
    tags = line.decode("ascii").split()[1:]
    header = {tag[:1]: tag[1:] for tag in tags if not tag.startswith("X")}
    extensions = [tag[1:] for tag in tags if tag.startswith("X")]
    width, height = int(header["W"]), int(header["H"])
    colorspace = header.get("C", "420")
    sizes = {"420": width * height * 3 // 2, "444": width * height * 3, "mono": width * height}
    match = re.fullmatch(r"(420|422|444|mono)(?:p?(\d+))?", colorspace)
    assert match is not None, colorspace
    sample = 2 if match[2] and int(match[2]) > 8 else 1
    size = sizes[match[1]] * sample
    frames: list[bytes] = []
    while True:
        marker = stream.read(len(FRAME))
        if not marker:
            break
        assert marker == FRAME, f"frame {len(frames)} does not start with FRAME: {marker!r}"
        data = stream.read(size)
        assert len(data) == size, f"frame {len(frames)} is {len(data)} bytes, expected {size}"
        frames.append(data)
    return Y4M(header, extensions, frames)


#: What asyncio's debug mode (on under PYTHONDEVMODE=1, as in the nox sessions) writes to stderr when a
#: step of the event loop took longer than 100 ms: on a loaded machine any step can. The lines come
#: from asyncio, not from the command line, and may land in the middle of the progress bar's line.
SLOW_CALLBACK_REPORT = re.compile(rb"Executing <[^\n]*> took \d+\.\d+ seconds\n")


def vsengine(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Runs `python -m vsengine ARGS`; its stderr without asyncio's slow-callback reports."""
    result = subprocess.run(
        [sys.executable, "-m", "vsengine", *map(str, args)],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    result.stderr = SLOW_CALLBACK_REPORT.sub(b"", result.stderr)
    return result


@pytest.fixture
def numbered(tmp_path: Path) -> Path:
    path = tmp_path / "numbered.vpy"
    path.write_text(NUMBERED, encoding="utf-8")
    return path


def test_demo_renders_the_builtin_clip(tmp_path: Path) -> None:
    # What `hatch run vsengine render --output demo.y4m` does in the workspace.
    result = vsengine("render", "--output", "demo.y4m", "--progress", cwd=tmp_path)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    with (tmp_path / "demo.y4m").open("rb") as f:
        video = parse_y4m(f)
    assert video.header == {"W": "640", "H": "360", "F": "30:1", "I": "p", "A": "0:0", "C": "420"}
    assert video.extensions == ["LENGTH=300"]
    assert len(video.frames) == 300
    assert video.frames[0] != video.frames[15] != video.frames[45], "the demo clip does not move"
    # A live progress bar (redrawn with \r) with frames/s, then the summary line.
    assert "\r[" in stderr
    assert "300/300 frames 100%" in stderr
    assert re.search(r"\d+\.\d frames/s", stderr.split("\n")[0])
    assert re.fullmatch(r"300 frames in \d+\.\d\d s \(\d+\.\d frames/s\)", stderr.splitlines()[-1])


def test_summary_without_a_terminal(tmp_path: Path) -> None:
    result = vsengine("render", "-o", tmp_path / "out.y4m", "--frames", "0-9")
    assert result.returncode == 0, result.stderr
    # stderr is a pipe: no live bar, only the summary.
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"10 frames in \d+\.\d\d s \(\d+\.\d frames/s\)", lines[0])


def test_script_to_stdout_with_a_frame_range(numbered: Path) -> None:
    result = vsengine("render", numbered, "-o", "-", "--frames", "2-5", "--prefetch", "3")
    assert result.returncode == 0, result.stderr
    video = parse_y4m(io.BytesIO(result.stdout))
    assert video.header["C"] == "mono"
    assert video.extensions == ["LENGTH=4"]
    assert [frame[0] for frame in video.frames] == [12, 13, 14, 15]
    assert all(len(set(frame)) == 1 for frame in video.frames)


@pytest.mark.parametrize(("spec", "first", "count"), [("7", 17, 1), ("15-", 25, 5), ("-2", 10, 3)])
def test_frame_range_forms(numbered: Path, spec: str, first: int, count: int) -> None:
    result = vsengine("render", numbered, "--raw", f"--frames={spec}")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == count * 32
    assert result.stdout[0] == first


def test_output_index_and_high_bit_depth(numbered: Path, tmp_path: Path) -> None:
    result = vsengine("render", numbered, "--output-index", "1", "-o", tmp_path / "one.y4m")
    assert result.returncode == 0, result.stderr
    with (tmp_path / "one.y4m").open("rb") as f:
        video = parse_y4m(f)
    assert video.header["C"] == "444p10"
    assert video.extensions == ["LENGTH=5"]  # as vspipe writes it: no XYSCSS
    assert len(video.frames) == 5


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("vsengine")
    assert script.exists(), "the `vsengine` console script is not installed next to the interpreter"
    result = subprocess.run([script, "--version"], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("vsengine ")


BROKEN = "import vapoursynth as vs\nraise ValueError('this script is broken')\n"
RGB = "import vapoursynth as vs\nvs.core.std.BlankClip(format=vs.RGB24, length=2).set_output()\n"


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        (None, ["missing.vpy"], r"VapourSynth script not found: .*missing\.vpy"),
        (BROKEN, [], r"script .*broken\.vpy, line 2: ValueError: this script is broken"),
        ("x = (\n", [], r"script .*broken\.vpy, line 1: SyntaxError: '\(' was never closed"),
        (NUMBERED, ["--frames", "5-2"], r"bad --frames '5-2': START \(5\) is after END \(2\)"),
        (NUMBERED, ["--frames", "0-20"], r"bad --frames '0-20': the clip has 20 frames \(0 to 19\)"),
        (NUMBERED, ["--frames", "a-b"], r"bad --frames 'a-b': expected START-END"),
        (NUMBERED, ["--output-index", "3"], r".*broken\.vpy has no output 3 \(outputs: 0, 1\)"),
        (RGB, [], r"cannot write Y4M: the clip is RGB24, an RGB format"),
    ],
)
def test_errors_are_one_clear_line(tmp_path: Path, script: str | None, args: list[str], message: str) -> None:
    path = tmp_path / "broken.vpy"
    if script is not None:
        path.write_text(script, encoding="utf-8")
        args = [str(path), *args]
    result = vsengine("render", *args, "-o", tmp_path / "out.y4m", cwd=tmp_path)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert re.fullmatch(rf"vsengine: error: {message}.*\n", stderr), stderr


def test_usage_errors() -> None:
    result = vsengine("render", "--prefetch", "lots")
    assert result.returncode == 2
    assert b"invalid int value: 'lots'" in result.stderr
    result = vsengine()
    assert result.returncode == 2
    assert b"the following arguments are required: COMMAND" in result.stderr


def test_refuses_to_write_video_to_a_terminal() -> None:
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "vsengine", "render", "--frames", "0-1"],
            stdout=terminal,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "vsengine: error: refusing to write video to a terminal: pass -o FILE or redirect stdout\n"
    )


#: Clips whose rows are padded in memory (a stride wider than the row: 70 samples of 10 bits),
#: of several formats, with different values per frame and plane.
PADDED = """
import vapoursynth as vs
core = vs.core
def clip(fmt, width, height):
    parts = [
        core.std.BlankClip(width=width, height=height, format=fmt, length=1, color=[n * 3, 40 + n, 90 - n])
        for n in range(6)
    ]
    return core.std.Splice(parts)
clip(vs.YUV420P10, 70, 6).set_output(0)
clip(vs.YUV422P8, 38, 5).set_output(1)
"""


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("kind", ["--y4m", "--raw"])
def test_output_is_byte_for_byte_what_render_gives(tmp_path: Path, index: int, kind: str) -> None:
    """The command writes planes straight from VapourSynth's frames; the bytes must be exactly
    those of `vsengine.video.render`'s chunks (padded rows packed, high bit depth, Y4M framing)."""
    script = tmp_path / "padded.vpy"
    script.write_text(PADDED, encoding="utf-8")
    result = vsengine("render", script, kind, "--output-index", str(index), "-o", "-")
    assert result.returncode == 0, result.stderr
    with Policy(GlobalStore()) as policy, policy.new_environment() as env, env.use():
        exec(PADDED, {"__name__": "padded"})  # the test's own script
        node = env.outputs[index]
        assert isinstance(node, vs.VideoOutputTuple)
        expected = b"".join(data for _, data in render(node.clip, env, y4m=kind == "--y4m"))
        del node
    assert result.stdout == expected


def test_frames_are_written_without_copying_them_into_python(tmp_path: Path) -> None:
    """1080p frames go from VapourSynth's memory to the file: Python never holds a frame's worth of
    bytes (a 3 MB copy, allocation and page faults per frame, and memory the allocator keeps)."""
    script = tmp_path / "hd.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "vs.core.std.BlankClip(width=1920, height=1080, format=vs.YUV420P8, length=12).set_output()\n",
        encoding="utf-8",
    )
    frame_size = 1920 * 1080 * 3 // 2
    probe = (
        "import os, sys, tracemalloc\n"
        "from vsengine._cli import main\n"
        "tracemalloc.start()\n"
        "status = main(['render', sys.argv[1], '-o', os.devnull, '--no-progress'])\n"
        "print(status, tracemalloc.get_traced_memory()[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(script)], capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    status, peak = map(int, result.stdout.split())
    assert status == 0
    assert peak < frame_size, f"Python allocated up to {peak} bytes at once (one frame is {frame_size})"


#: Frame 3 of this script raises in the script's own Python code (a FrameEval callback).
FAILS_AT_3 = """
import vapoursynth as vs
clip = vs.core.std.BlankClip(width=8, height=8, format=vs.GRAY8, length=10)
def select(n):
    if n == 3:
        raise KeyError(f"no frame {n} here")
    return clip
vs.core.std.FrameEval(clip, select).set_output()
"""


@pytest.mark.parametrize(("frames", "name"), [(None, "out.y4m"), ("2-8", "out.y4m"), (None, "-")])
def test_a_failing_frame_is_named_with_the_scripts_traceback_and_leaves_no_file(
    tmp_path: Path, frames: str | None, name: str
) -> None:
    script = tmp_path / "fails.vpy"
    script.write_text(FAILS_AT_3, encoding="utf-8")
    args = ["--frames", frames] if frames else []
    result = vsengine("render", script, *args, "-o", name, cwd=tmp_path)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    lines = stderr.splitlines()
    # The frame number is the script's (3), also when the range starts elsewhere.
    assert lines[0] == "vsengine: error: frame 3: KeyError: 'no frame 3 here'"
    assert lines[1] == "Traceback (most recent call last):"
    assert f'File "{script}", line 6, in select' in stderr
    assert lines[-1] == "KeyError: 'no frame 3 here'"
    assert "vapoursynth.pyx" not in stderr
    # Nothing was left behind: no partial output file, no temporary file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fails.vpy"]


def test_a_failed_render_keeps_the_existing_output_file(tmp_path: Path) -> None:
    script = tmp_path / "fails.vpy"
    script.write_text(FAILS_AT_3, encoding="utf-8")
    (tmp_path / "out.y4m").write_bytes(b"an earlier, complete render")
    result = vsengine("render", script, "-o", "out.y4m", cwd=tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "out.y4m").read_bytes() == b"an earlier, complete render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fails.vpy", "out.y4m"]
    # A successful render replaces it, with the usual permissions (not a private temporary file's).
    result = vsengine("render", "-o", "out.y4m", "--frames", "0-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.y4m").read_bytes().startswith(b"YUV4MPEG2 ")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out.y4m").stat().st_mode & 0o777 == 0o666 & ~umask
