"""Frame numbers and times: the clip's timeline (constant or variable frame rate) and the text a
user types into the go-to box.

A clip with a frame rate (``fps_num > 0``) has frame ``n`` at ``n / fps``. A variable-frame-rate
clip (``fps == 0``) has frame ``n`` at the sum of the durations (``_DurationNum / _DurationDen``)
of the frames before it; the previewer learns them as frames are rendered (a background scan),
and :meth:`Timeline.time` says None while a duration before ``n`` is still unknown.
"""

from __future__ import annotations

import bisect
import re
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["SPEEDS", "Timeline", "format_time", "parse_position"]


def format_time(seconds: Fraction | float) -> str:
    """``HH:MM:SS.mmm`` (milliseconds rounded down, so a frame's time never shows a later one's)."""
    millis = int(Fraction(seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


_TIME = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)")


def parse_position(text: str) -> int | Fraction:
    """What the go-to box accepts: a frame number (``1234``) or a time (``[[H:]M:]S[.fff]``, with a
    colon or a decimal point, or ending in ``s``): an ``int`` frame or a ``Fraction`` of seconds.
    Raises ``ValueError`` naming the accepted forms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    seconds = text[:-1].strip() if text.endswith("s") else text
    match = _TIME.fullmatch(seconds)
    if match is None or (seconds == text and ":" not in text and "." not in text):
        raise ValueError(
            f"cannot go to {text!r}: type a frame number (1234) or a time (1:02.5, 0:01:02.500, 62.5s)"
        )
    hours, minutes, secs = match.groups()
    return Fraction(int(hours or 0) * 3600 + int(minutes or 0) * 60) + Fraction(secs)


class Timeline:
    """Frame times of a clip of ``num_frames`` frames at ``fps`` (0 for a variable frame rate)."""

    def __init__(self, num_frames: int, fps: Fraction) -> None:
        self.num_frames = num_frames
        self.fps = fps
        #: Durations learnt so far (variable frame rate only), by frame number.
        self._durations: dict[int, Fraction] = {}
        #: Start times of frames 0..len-1 while every duration before them is known.
        self._starts: list[Fraction] = [Fraction(0)]

    @classmethod
    def of(cls, node: vs.VideoNode) -> Timeline:
        fps = Fraction(node.fps_num, node.fps_den) if node.fps_num and node.fps_den else Fraction(0)
        return cls(node.num_frames, fps)

    @property
    def variable(self) -> bool:
        return self.fps == 0

    @property
    def complete(self) -> bool:
        """Every frame's time is known."""
        return not self.variable or len(self._starts) > self.num_frames

    def learn(self, n: int, props: object) -> None:
        """Record frame ``n``'s duration from its properties (variable frame rate; else a no-op)."""
        if not self.variable or n in self._durations:
            return
        try:
            duration = Fraction(props["_DurationNum"], props["_DurationDen"])  # type: ignore[index]
        except (KeyError, TypeError, ZeroDivisionError):
            duration = Fraction(0)  # a frame without a duration takes no time
        self._durations[n] = duration
        starts = self._starts
        while len(starts) - 1 in self._durations and len(starts) <= self.num_frames:
            starts.append(starts[-1] + self._durations[len(starts) - 1])

    def first_unknown(self) -> int:
        """The first frame whose duration is not known yet (``num_frames`` when all are)."""
        return self.num_frames if not self.variable else len(self._starts) - 1

    def time(self, n: int) -> Fraction | None:
        """Start time of frame ``n`` in seconds (None while it is unknown)."""
        if not self.variable:
            return n / self.fps
        return self._starts[n] if n < len(self._starts) else None

    def frame_at(self, seconds: Fraction) -> int:
        """The frame shown at ``seconds`` (clamped to the clip; for a variable frame rate, among the
        frames whose times are known)."""
        if seconds <= 0:
            return 0
        n = int(seconds * self.fps) if not self.variable else bisect.bisect_right(self._starts, seconds) - 1
        return max(0, min(n, self.num_frames - 1))

    def duration(self, n: int) -> Fraction | None:
        """How long frame ``n`` is shown (None while unknown)."""
        if not self.variable:
            return 1 / self.fps
        return self._durations.get(n)

    def length(self) -> Fraction | None:
        """The clip's duration (None while unknown)."""
        return self.time(self.num_frames) if self.complete else None

    def describe(self, n: int) -> str:
        """``HH:MM:SS.mmm`` of frame ``n``, or ``--:--:--.---`` while it is unknown."""
        time = self.time(n)
        return format_time(time) if time is not None else "--:--:--.---"


#: The playback speeds offered, as factors of the clip's rate.
SPEEDS = tuple(Fraction(s) for s in ("1/4", "1/2", "1", "2", "4"))
