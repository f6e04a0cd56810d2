"""Headless previewing: the previewer's frame path, writing PNGs instead of painting a window.

Frames come to the Qt thread exactly as in the window (the same loading, the same QImage conversion
on VapourSynth's threads, the same in-order delivery). Their PNGs are encoded and written by a pool
of threads (:mod:`vsengine_qt._png`: a fast zlib level, the GIL released while compressing), a few
frames per thread at once, so the Qt thread only hands images over. A frame counts as done once its
file is written: the progress bar and frames/s measure the whole job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vsengine._clitools import FrameFailed, describe_frame_error, parse_frames
from vsengine_qt._frames import FrameIterator
from vsengine_qt._image import frame_to_qimage
from vsengine_qt._png import write_png
from vsengine_qt._source import load_source

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vsengine.policy import Policy

__all__ = [
    "FrameFailed",
    "ProgressBar",
    "RenderStats",
    "clear_earlier_pngs",
    "parse_range",
    "render_headless",
]

#: The files a run writes (and a temporary one of an interrupted write): what a new run clears.
_OUR_FILES = re.compile(r"(frame\d+\.png|\.frame\d+\.png\.[0-9a-f]+\.partial)")


@dataclass(frozen=True)
class RenderStats:
    """What a headless run did: ``frames`` rendered (and written) in ``seconds``; ``removed``
    PNGs of an earlier run were deleted from ``png_dir`` first."""

    frames: int
    seconds: float
    png_dir: Path | None
    removed: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


class ProgressBar:
    """A progress bar with frames/s: redrawn in place ten times a second on a terminal, otherwise
    (a log, a pipe) printed as a line once a second."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.width = width
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._tty = stream.isatty()
        self._drawn = -1

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < (0.1 if self._tty else 1.0):
            return
        if force and done == self._drawn:
            return
        self._last_draw = now
        self._drawn = done
        elapsed = now - self.start
        fps = done / elapsed if elapsed > 0 else 0.0
        filled = self.width * done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} frames {fps:8.1f} frames/s"
        self.stream.write(("\r" if self._tty else "") + line + ("" if self._tty else "\n"))
        self.stream.flush()

    def close(self, done: int) -> None:
        """Draw the final state (``done`` frames) and end the line."""
        self.update(done, force=True)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def parse_range(text: str | None, num_frames: int) -> tuple[int, int]:
    """``START-END`` (inclusive), ``START-``, ``-END`` or ``N`` as ``[start, end)``; None means the
    whole clip. Raises :class:`vsengine._clitools.FrameRangeError` (a ``ValueError``) naming the
    problem (the same syntax and messages as ``vsengine render --frames``)."""
    if text is None:
        return 0, num_frames
    start, end = parse_frames(text, num_frames)
    return start, end + 1


def clear_earlier_pngs(directory: Path) -> tuple[int, int]:
    """Delete the PNGs an earlier run left in ``directory`` (``frameNNNNNN.png`` and temporary
    files of an interrupted write); returns ``(removed, others)``, ``others`` being the files of
    other names, which are left alone."""
    removed = others = 0
    for entry in os.scandir(directory):
        if _OUR_FILES.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
            removed += 1
        else:
            others += 1
    return removed, others


def _writers() -> int:
    return max(2, os.cpu_count() or 2)


async def render_headless(
    policy: Policy,
    script: str | os.PathLike[str] | None,
    output: int = 0,
    frames: str | None = None,
    png_dir: str | os.PathLike[str] | None = None,
    *,
    prefetch: int | None = None,
    progress: TextIO | None = None,
    args: Mapping[str, str] | None = None,
    notices: TextIO | None = None,
) -> RenderStats:
    """Render the range ``frames`` (``START-END``) through the previewer's path; PNGs into ``png_dir``.

    Runs on the Qt thread's asyncio loop like the window does. ``args`` become global variables of
    the script (``--arg name=value``). Progress goes to ``progress`` (stderr); what was cleared from
    ``png_dir`` is said on ``notices`` (stdout). A frame that fails to render raises
    :class:`FrameFailed` after the frames before it are written.
    """
    progress = sys.stderr if progress is None else progress
    notices = sys.stdout if notices is None else notices
    source = await load_source(policy, script, output, args=args)
    try:
        start, end = parse_range(frames, source.num_frames)
        directory = Path(png_dir) if png_dir is not None else None
        removed = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            removed, others = clear_earlier_pngs(directory)
            if removed:
                notices.write(f"removed {removed} PNGs of an earlier run from {directory}\n")
            if others:
                notices.write(f"{directory} also holds {others} other files (left alone)\n")
            notices.flush()
        digits = max(6, len(str(end - 1)))
        loop = asyncio.get_running_loop()
        workers = _writers()
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="vsengine-qt-png")
        writing: set[asyncio.Future[None]] = set()
        bar = ProgressBar(end - start, progress)
        done = received = 0
        began = time.perf_counter()

        async def settle(until: int) -> None:
            """Wait until at most ``until`` writes are in flight; a write's error is raised."""
            nonlocal writing, done
            while len(writing) > until:
                finished, writing = await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    future.result()
                done += len(finished)
                bar.update(done)

        try:
            async with FrameIterator(
                source.image_node, start, end, prefetch=prefetch, transform=frame_to_qimage
            ) as iterator:
                while True:
                    try:
                        delivered = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    except Exception as exc:  # frames come in order: the failed one is the next
                        await settle(0)
                        raise FrameFailed(describe_frame_error(start + received, exc)) from None
                    received += 1
                    if directory is None:
                        done += 1
                        bar.update(done)
                        continue
                    path = directory / f"frame{delivered.n:0{digits}d}.png"
                    writing.add(loop.run_in_executor(pool, write_png, delivered.value, path))
                    await settle(2 * workers - 1)
            await settle(0)
        finally:
            for future in writing:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close(done)
        return RenderStats(done, time.perf_counter() - began, directory, removed)
    finally:
        source.dispose()
