"""What the two command lines (``vsengine render`` and ``vsengine-qt preview``) share: the
``--frames`` syntax, the report of a frame that failed to render, and output files that appear
only once they are complete."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import traceback
from typing import IO, TYPE_CHECKING, NamedTuple

import vapoursynth as vs

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "FrameError",
    "FrameFailed",
    "FrameRangeError",
    "atomic_file",
    "describe_frame_error",
    "parse_frames",
]


class FrameRangeError(ValueError):
    """A ``--frames`` value that is malformed or does not fit the clip."""


def parse_frames(spec: str, count: int) -> tuple[int, int]:
    """``START-END`` (inclusive; ``START-``, ``-END`` and a single ``N`` too) as ``(start, end)``
    inclusive, checked against a clip of ``count`` frames."""
    match = re.fullmatch(r"\s*(\d*)\s*(-?)\s*(\d*)\s*", spec)
    if match is None or not (match[1] or match[3]) or (not match[2] and not match[1]):
        raise FrameRangeError(f"bad --frames {spec!r}: expected START-END, START-, -END or N")
    start = int(match[1]) if match[1] else 0
    end = (int(match[3]) if match[3] else count - 1) if match[2] else start
    if start > end:
        raise FrameRangeError(f"bad --frames {spec!r}: START ({start}) is after END ({end})")
    if end >= count:
        raise FrameRangeError(f"bad --frames {spec!r}: the clip has {count} frames (0 to {count - 1})")
    return start, end


class FrameError(NamedTuple):
    """What to tell about a frame that failed: ``summary`` is one line,
    ``frame N: <ExceptionType>: <message>``; ``traceback`` is the script's traceback ("" if none)."""

    summary: str
    traceback: str


class FrameFailed(Exception):
    """A frame failed to render; ``report`` says which and why (``str()`` is its summary line)."""

    def __init__(self, report: FrameError) -> None:
        super().__init__(report.summary)
        self.report = report


_PYX_FRAME = re.compile(r'\s*File "vapoursynth\.pyx", line \d+, in .*')


def describe_frame_error(n: int, error: BaseException) -> FrameError:
    """The report of frame ``n`` failing with ``error``.

    VapourSynth hands an exception raised by a script's Python callback (``FrameEval``,
    ``ModifyFrame``, ...) to the requester as a ``vapoursynth.Error`` whose message is the formatted
    traceback: the original type and message are recovered from its last line, and its frames inside
    ``vapoursynth.pyx`` are left out. Any other exception is reported with its own traceback.
    """
    if isinstance(error, vs.Error):
        text = str(error).strip()
        lines = text.splitlines()
        if lines and lines[0] == "Traceback (most recent call last):":
            kept = [line for line in lines if not _PYX_FRAME.fullmatch(line)]
            return FrameError(f"frame {n}: {lines[-1].strip()}", "\n".join(kept) + "\n")
        return FrameError(f"frame {n}: vapoursynth.Error: {text or 'no message'}", "")
    detail = str(error)
    summary = f"frame {n}: {type(error).__name__}" + (f": {detail}" if detail else "")
    if error.__traceback__ is None:
        return FrameError(summary, "")
    return FrameError(summary, "".join(traceback.format_exception(error)))


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A file opened for writing under a temporary name next to ``path``, renamed to ``path`` when
    the block ends without an error and removed when it raises: a failed or interrupted write never
    leaves a partial file under the final name (nor replaces an existing one)."""
    target = os.fspath(path)
    directory, name = os.path.split(target)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.partial")
        try:
            # 0o666 less the umask, like open(): the final file gets the usual permissions.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
