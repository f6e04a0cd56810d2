"""Time for paced playback: the clock a :class:`~vsengine_qt.FrameStream` reads and sleeps on.

A clock has two methods: ``now()`` (seconds, monotonic) and ``call_later(delay, callback)``, which
calls ``callback`` once, on the calling thread, ``delay`` seconds from now and returns a function
that cancels the call. :class:`QtClock` (the default) reads ``time.perf_counter`` and waits with a
precise single-shot ``QTimer``; :class:`ManualClock` only moves when told to, so that tests of
playback need no sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import time
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, Protocol

from vsengine_qt._qt import QtCore

if TYPE_CHECKING:
    from collections.abc import Callable

    import vapoursynth as vs

__all__ = ["Clock", "ManualClock", "Pacing", "QtClock"]

#: ``"every"``: show every frame; when one is late, the next ones keep their spacing after it.
#: ``"drop"``: keep to the clip's timeline; a frame whose whole display time has passed is dropped.
#: ``"catch_up"``: show every frame, on the clip's timeline: a late frame is shown at once and so are
#: the next ones until playback is back on time (for a clock that waits for late frames, e.g. audio
#: held back by the video).
type Policy = Literal["every", "drop", "catch_up"]


class Clock(Protocol):
    """What paced playback needs to know about time."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once, ``delay`` seconds from now, on this thread; return a cancel function."""
        ...


class QtClock:
    """``time.perf_counter`` and precise single-shot ``QTimer``\\ s on the calling thread."""

    def __init__(self) -> None:
        self._timers: set[QtCore.QTimer] = set()

    def now(self) -> float:
        return time.perf_counter()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        timer = QtCore.QTimer()
        timer.setSingleShot(True)
        timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        timers = self._timers

        def fire() -> None:
            timers.discard(timer)
            callback()

        def cancel() -> None:
            timer.stop()
            timers.discard(timer)

        timer.timeout.connect(fire)
        timers.add(timer)  # a QTimer without a parent lives as long as someone holds it
        timer.start(max(0, round(delay * 1000)))
        return cancel


class ManualClock:
    """A clock that stands still until :meth:`advance` or :meth:`jump` moves it; for tests of playback.

    ``call_later`` callbacks run inside :meth:`advance` and :meth:`jump`, in the order of their times.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._calls: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        call_id = next(self._ids)
        heapq.heappush(self._calls, (self._now + max(0.0, delay), call_id, callback))
        return lambda: self._cancelled.add(call_id)

    @property
    def pending(self) -> int:
        """How many calls are waiting (not run, not cancelled)."""
        return sum(1 for _, call_id, _ in self._calls if call_id not in self._cancelled)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running every call that falls due on the way, at its time."""
        self._run_until(self._now + seconds, late=False)

    def jump(self, seconds: float) -> None:
        """Move the clock forward at once, then run the calls that fell due, late (as on a busy thread)."""
        self._run_until(self._now + seconds, late=True)

    def _run_until(self, target: float, *, late: bool) -> None:
        if late:
            self._now = target
        while self._calls and self._calls[0][0] <= target:
            when, call_id, callback = heapq.heappop(self._calls)
            self._now = max(self._now, when)
            if call_id in self._cancelled:
                self._cancelled.discard(call_id)
                continue
            callback()
        self._now = target


class Pacing:
    """The schedule of a paced playback: when each frame is due, and which are dropped.

    ``frame_duration`` is the constant duration of a frame in seconds (the clip's ``fps_den /
    fps_num``), or None for variable frame rate: then each frame's ``_DurationNum/_DurationDen``
    decides. ``speed`` scales every duration (2.0 plays twice as fast).
    """

    __slots__ = ("cancel_timer", "clock", "due", "frame_duration", "policy", "speed")

    def __init__(self, clock: Clock, frame_duration: float | None, policy: Policy, speed: float) -> None:
        self.clock = clock
        self.frame_duration = frame_duration
        self.policy = policy
        self.speed = speed
        self.due: float | None = None  # when the next frame is due (None: at once)
        self.cancel_timer: Callable[[], None] | None = None

    @property
    def reads_props(self) -> bool:
        """Whether frames' own durations are needed (variable frame rate)."""
        return self.frame_duration is None

    def duration(self, n: int, props_duration: float | None) -> float:
        duration = self.frame_duration if self.frame_duration is not None else props_duration
        if duration is None:
            raise ValueError(
                f"frame {n} has no _DurationNum/_DurationDen properties: playing a variable-frame-rate "
                "clip needs them on every frame (or pass fps=... to play())"
            )
        return duration / self.speed

    def stop_timer(self) -> None:
        if self.cancel_timer is not None:
            self.cancel_timer()
            self.cancel_timer = None


def frame_duration_of(node: vs.VideoNode, fps: Fraction | float | None) -> float | None:
    """Seconds per frame: of ``fps`` if given, else of the clip's rate; None (each frame's own
    duration) for a VFR clip, or for ``fps=0`` (VapourSynth's rate of a variable-frame-rate clip)."""
    if fps is None:
        if node.fps_num > 0 and node.fps_den > 0:
            return node.fps_den / node.fps_num
        return None
    rate = Fraction(fps)
    if rate < 0:
        raise ValueError(f"fps must be positive, or 0 for each frame's own duration; got {fps!r}")
    return None if rate == 0 else float(1 / rate)
