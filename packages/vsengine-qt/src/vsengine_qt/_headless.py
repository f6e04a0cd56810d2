"""Headless previewing: the previewer's frame path, writing PNGs instead of painting a window."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vsengine_qt._frames import FrameIterator
from vsengine_qt._image import frame_to_qimage
from vsengine_qt._source import load_source

if TYPE_CHECKING:
    from vsengine.policy import Policy
    from vsengine_qt._qt import QtGui

__all__ = ["ProgressBar", "RenderStats", "parse_range", "render_headless"]

#: PNG encodings in flight at once.
_MAX_SAVING = 4


@dataclass(frozen=True)
class RenderStats:
    """What a headless run did."""

    frames: int
    seconds: float
    png_dir: Path | None

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

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < (0.1 if self._tty else 1.0):
            return
        self._last_draw = now
        elapsed = now - self.start
        fps = done / elapsed if elapsed > 0 else 0.0
        filled = self.width * done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} frames {fps:8.1f} frames/s"
        self.stream.write(("\r" if self._tty else "") + line + ("" if self._tty else "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def parse_range(text: str | None, num_frames: int) -> tuple[int, int]:
    """``START-END`` (inclusive), ``START-`` or ``N`` as ``[start, end)``; None means the whole clip."""
    if text is None:
        return 0, num_frames
    try:
        if "-" in text:
            first, _, last = text.partition("-")
            start = int(first)
            end = int(last) + 1 if last.strip() else num_frames
        else:
            start = int(text)
            end = start + 1
    except ValueError:
        raise ValueError(f"--frames must look like START-END, START- or N, got {text!r}") from None
    if not 0 <= start < end <= num_frames:
        raise ValueError(f"--frames {text} is outside the clip's frames 0-{num_frames - 1}")
    return start, end


def _save_png(image: QtGui.QImage, path: Path) -> None:
    if not image.save(os.fspath(path)):  # the format follows the .png suffix
        raise OSError(f"could not write {path}")


async def render_headless(
    policy: Policy,
    script: str | os.PathLike[str] | None,
    output: int = 0,
    frames: str | None = None,
    png_dir: str | os.PathLike[str] | None = None,
    *,
    prefetch: int | None = None,
    progress: TextIO | None = None,
) -> RenderStats:
    """Render the range ``frames`` (``START-END``) through the previewer's path; PNGs into ``png_dir``.

    Runs on the Qt thread's asyncio loop like the window does: the same source loading, the same
    QImage conversion and the same in-order delivery. Progress goes to ``progress`` (stderr).
    """
    progress = sys.stderr if progress is None else progress
    source = await load_source(policy, script, output)
    try:
        start, end = parse_range(frames, source.num_frames)
        directory = Path(png_dir) if png_dir is not None else None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        digits = max(6, len(str(end - 1)))
        loop = asyncio.get_running_loop()
        # PNG encoding runs in the loop's executor, a few frames at a time, while frames keep coming.
        saving: set[asyncio.Future[None]] = set()
        bar = ProgressBar(end - start, progress)
        done = 0
        began = time.perf_counter()
        try:
            async with FrameIterator(
                source.image_node, start, end, prefetch=prefetch, transform=frame_to_qimage
            ) as iterator:
                async for delivered in iterator:
                    if directory is not None:
                        path = directory / f"frame{delivered.n:0{digits}d}.png"
                        saving.add(loop.run_in_executor(None, _save_png, delivered.value, path))
                        if len(saving) >= _MAX_SAVING:
                            finished, saving = await asyncio.wait(saving, return_when=asyncio.FIRST_COMPLETED)
                            for future in finished:
                                future.result()
                    done += 1
                    bar.update(done)
            if saving:
                for outcome in await asyncio.gather(*saving, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
                saving.clear()
        finally:
            for future in saving:
                future.cancel()
        seconds = time.perf_counter() - began
        bar.update(done, force=True)
        bar.close()
        return RenderStats(done, seconds, directory)
    finally:
        source.dispose()
