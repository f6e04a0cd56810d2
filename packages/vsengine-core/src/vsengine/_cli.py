"""The `vsengine` command line: ``vsengine render [SCRIPT] -o out.y4m``.

Renders a VapourSynth script (or the built-in demo clip) through the asyncio adapter and
`vsengine.video.frames`, writes Y4M (or raw planes), and shows progress and frames/s on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from typing import IO, TYPE_CHECKING

import vapoursynth as vs

from vsengine import __version__
from vsengine._clitools import (
    FrameFailed,
    FrameRangeError,
    atomic_file,
    describe_frame_error,
    parse_frames,
)
from vsengine._demo import demo_clip
from vsengine._y4m import FRAME_HEADER, y4m_header
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import get_loop, set_loop
from vsengine.policy import ContextVarStore, ManagedEnvironment, Policy
from vsengine.video import frames
from vsengine.vpy import ExecutionError, Script, load_script

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["main"]

PROG = "vsengine"


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 1."""


# -- arguments -------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run VapourSynth through vsengine from the command line."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (VapourSynth {vs.__version__})"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    rend = commands.add_parser(
        "render",
        help="render a script (or the built-in demo clip) to Y4M or raw video",
        description=(
            "Render SCRIPT (a .vpy file; without it, a built-in demo clip) through the asyncio "
            "adapter and write it as Y4M (default) or raw planes. Progress and frames/s go to stderr."
        ),
    )
    rend.add_argument("script", nargs="?", metavar="SCRIPT", help="VapourSynth script (default: demo clip)")
    rend.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="output file, '-' for stdout (default: -)"
    )
    rend.add_argument(
        "--output-index", type=int, default=0, metavar="N", help="which output of the script (default: 0)"
    )
    rend.add_argument(
        "--frames",
        metavar="START-END",
        help="render only frames START to END (inclusive; either may be omitted)",
    )
    rend.add_argument(
        "--prefetch",
        type=int,
        default=0,
        metavar="N",
        help="frames requested at once (default: number of VapourSynth threads)",
    )
    kind = rend.add_mutually_exclusive_group()
    kind.add_argument("--y4m", dest="y4m", action="store_true", default=True, help="write Y4M (default)")
    kind.add_argument("--raw", dest="y4m", action="store_false", help="write raw planes, no headers")
    bar = rend.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show the progress bar"
    )
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show the progress bar"
    )
    return parser


# -- progress --------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar with frames/s on a terminal stream."""

    def __init__(self, stream: IO[str], total: int, *, live: bool) -> None:
        self._stream = stream
        self._total = total
        self._live = live
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self.done = 0
        self._drawn = -1

    def update(self, done: int) -> None:
        self.done = done
        if not self._live:
            return
        now = time.perf_counter()
        if done < self._total and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn = self.done
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        fraction = self.done / self._total if self._total else 1.0
        width = 30
        filled = int(fraction * width)
        bar = "#" * filled + "-" * (width - filled)
        eta = (
            f" ETA {(self._total - self.done) / rate:5.1f} s" if rate > 0 and self.done < self._total else ""
        )
        self._stream.write(
            f"\r[{bar}] {self.done}/{self._total} frames {fraction:4.0%} {rate:8.1f} frames/s{eta}   "
        )
        self._stream.flush()

    def finish(self) -> str:
        """Ends the bar and returns the summary line."""
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        if self._live:
            if self._drawn != self.done:
                self._draw(time.perf_counter())
            self._stream.write("\n")
        return f"{self.done} frames in {elapsed:.2f} s ({self.done / elapsed:.1f} frames/s)"


# -- rendering -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_output(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        if sys.stdout.isatty():
            raise UsageError("refusing to write video to a terminal: pass -o FILE or redirect stdout")
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    # Written under a temporary name, renamed to `path` only once every frame is in.
    with contextlib.ExitStack() as stack:
        try:
            f = stack.enter_context(atomic_file(path))
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        yield f


def _select_output(env: ManagedEnvironment, index: int, source: str) -> vs.VideoNode:
    outputs = env.outputs
    if index not in outputs:
        have = ", ".join(str(i) for i in sorted(outputs)) or "none"
        raise UsageError(f"{source} has no output {index} (outputs: {have}); set one with clip.set_output()")
    output = outputs[index]
    if isinstance(output, vs.AudioNode):
        raise UsageError(f"output {index} of {source} is audio; vsengine render writes video only")
    return output.clip


async def _render(
    node: vs.VideoNode, env: ManagedEnvironment, out: IO[bytes], args: argparse.Namespace, first: int = 0
) -> str:
    """Writes every frame of `node` to `out` in order (Y4M or raw planes); returns the summary line.

    Frames come from `vsengine.video.frames` and their planes are written straight from
    VapourSynth's memory: no per-frame copy into a bytes object (which is what
    `vsengine.video.render` hands out), so a 1080p frame costs no 3 MB allocation, copy and page
    faults. The output is byte for byte what writing `render`'s chunks gives. `first` is the number,
    in the script's clip, of `node`'s frame 0 (for the report of a frame that fails).
    """
    header = y4m_header(node) if args.y4m else None  # refuses clips Y4M cannot carry, before any work
    previous = get_loop()
    set_loop(AsyncIOLoop())
    live = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = Progress(sys.stderr, node.num_frames, live=live)
    write = out.write
    try:
        if header is not None:
            write(header)
        done = 0
        # backlog=-1: as many frames ahead as requested at once, as `render` reads ahead.
        try:
            async for f in frames(node, env, prefetch=args.prefetch, backlog=-1, close=True):
                if header is not None:
                    write(FRAME_HEADER)
                for p in range(f.format.num_planes):
                    view = memoryview(f[p])
                    # Padded rows (a stride wider than the row) are packed first.
                    write(view.cast("B") if view.c_contiguous else view.tobytes())
                done += 1
                progress.update(done)
        except vs.Error as exc:  # frames() delivers in order: the failed frame is the next one
            raise FrameFailed(describe_frame_error(first + done, exc)) from None
    finally:
        summary = progress.finish()
        set_loop(previous)
    return summary


def _run_render(args: argparse.Namespace) -> int:
    policy = Policy(ContextVarStore())
    script: Script[ManagedEnvironment] | None = None
    env: ManagedEnvironment | None = None
    with policy:
        try:
            if args.script is None:
                source = "the demo clip"
                env = policy.new_environment()
                with env.use():
                    demo_clip().set_output(0)
            else:
                source = args.script
                script = load_script(args.script, policy)
                assert isinstance(script.environment, ManagedEnvironment)
                env = script.environment
                script.result()
            with env.use():
                node = _select_output(env, args.output_index, source)
                start = 0
                if args.frames is not None:
                    start, end = parse_frames(args.frames, node.num_frames)
                    node = node[start : end + 1]
            with _open_output(args.output) as out:
                summary = asyncio.run(_render(node, env, out, args, start))
            del node
        finally:
            if script is not None:
                script.dispose()
            elif env is not None:
                env.dispose()
    print(summary, file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vsengine` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            return _run_render(args)
        raise AssertionError(args.command)  # pragma: no cover (argparse rejects the rest)
    except FrameFailed as exc:
        print(f"{PROG}: error: {exc.report.summary}", file=sys.stderr)
        if exc.report.traceback:
            print(exc.report.traceback, end="", file=sys.stderr)
        return 1
    except (
        UsageError,
        FrameRangeError,
        ValueError,
        FileNotFoundError,
        IsADirectoryError,
        ExecutionError,
        vs.Error,
    ) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`): not an error of ours.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError | IsADirectoryError) and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
