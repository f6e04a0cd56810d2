"""Audio outputs played with the video: a VapourSynth audio node through QtMultimedia's ``QAudioSink``.

The samples travel like video frames: a :class:`~vsengine_qt._frames.FramePump` (the one read-ahead
engine) requests the node's audio frames (3,072 samples each) ahead; on VapourSynth's threads they
are 32-bit float already (:func:`float_audio` converts other formats inside VapourSynth) and are
interleaved into the sink's layout; the Qt thread gets them in order and appends them to an
:class:`AudioFeed`, the ``QIODevice`` the sink pulls from (Qt's audio timing asks for the data).
An audio frame is released to the pump once the sink has read all of it, so the read-ahead stays
within the pump's backlog.

The audio is the playback clock: :class:`AudioClock` reads the sink's processed time while audio
plays (``FrameStream.play(...)`` paces the video by it, so a frame is shown when the audio reaches
it) and wall time otherwise. :attr:`AudioFeed.limit` lets the previewer hold the audio back when the
video is late ("every frame" playback): the sink runs dry, the clock stands still, and both go on
together once the frame is shown.
"""

from __future__ import annotations

import collections
import importlib
import math
import time
from typing import TYPE_CHECKING, Any

import vapoursynth as vs

from vsengine_qt._frames import FramePump
from vsengine_qt._pacing import QtClock
from vsengine_qt._qt import BINDING, QT5, QtCore, Signal

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

__all__ = ["SAMPLES_PER_FRAME", "AudioClock", "AudioFeed", "AudioPlayer", "AudioUnavailable", "float_audio"]

#: Samples per VapourSynth audio frame (the last frame of a node may hold fewer).
SAMPLES_PER_FRAME = 3072
#: Bytes of one sample of one channel on the way to the sink (32-bit float).
_SAMPLE_BYTES = 4


class AudioUnavailable(Exception):
    """Audio cannot be played here; the message says why and what would help."""


def _multimedia() -> Any:
    """The binding's QtMultimedia with Qt 6's ``QAudioSink``, or :class:`AudioUnavailable`."""
    if QT5:
        # Qt 5's QtMultimedia has QAudioOutput, another API (see docs/vsengine-qt/previewer.md).
        raise AudioUnavailable(
            f"audio is not played: it needs a Qt 6 binding (PyQt6 or PySide6); {BINDING} has Qt 5"
        )
    try:
        module = importlib.import_module(f"{BINDING}.QtMultimedia")
    except ImportError as exc:
        fix = (
            "pip install PySide6-Addons (or vsengine-qt[pyside6]): PySide6-Essentials does not ship it"
            if BINDING == "PySide6"
            else f"install {BINDING} with its QtMultimedia module"
        )
        raise AudioUnavailable(f"audio is not played: {BINDING}.QtMultimedia is missing ({fix})") from exc
    return module


def float_audio(node: vs.AudioNode) -> vs.AudioNode:
    """``node`` as 32-bit float samples (converted by VapourSynth, on its threads, when it is not).

    Call it where the node's environment is current (the conversion filter comes from its core)."""
    if node.sample_type == vs.FLOAT and node.bits_per_sample == 32:
        return node
    core: Any = vs.core
    converted: vs.AudioNode = core.std.AudioResample(node, sampletype=vs.FLOAT, bits=32)
    return converted


def _interleave(frame: vs.AudioFrame) -> bytes:
    """On VapourSynth's threads: the frame's planar float channels as interleaved float32 bytes."""
    channels = frame.num_channels
    first = memoryview(frame[0])
    out = bytearray(first.nbytes * channels)
    view = memoryview(out).cast("f")
    for channel in range(channels):
        view[channel::channels] = first if channel == 0 else memoryview(frame[channel])
    return bytes(out)


class AudioFeed(QtCore.QIODevice):
    """The device a ``QAudioSink`` pulls from: interleaved samples as they arrive, in order.

    :meth:`push` appends an audio frame's bytes; ``readData`` hands them to the sink and reports
    the frames it finished to ``consumed`` (the pump's release; a chunk pushed with
    ``counted=False`` is not reported). :attr:`limit` (bytes from the start,
    or None) caps what the sink may read: at the limit the sink runs dry (and its clock stands
    still) until the limit moves on. :attr:`taken` counts the bytes the sink has read.
    """

    def __init__(self, frame_bytes: int, consumed: Callable[[int], None]) -> None:
        super().__init__()
        self._frame_bytes = frame_bytes  # one sample of every channel
        self._consumed = consumed
        self._chunks: collections.deque[tuple[bytes, bool]] = collections.deque()
        self._head = 0  # bytes of the first chunk already read
        self._buffered = 0
        self._limit: int | None = None
        self._starved = False
        #: Bytes the sink has read since :meth:`restart`.
        self.taken = 0
        #: No more data will come (the node's end): reading everything means the audio ended.
        self.finished = False

    def restart(self) -> None:
        """Forget everything (the sink starts from scratch)."""
        self._chunks.clear()
        self._head = self._buffered = self.taken = 0
        self._limit = None
        self._starved = False
        self.finished = False

    @property
    def buffered(self) -> int:
        """Bytes waiting to be read."""
        return self._buffered

    @property
    def starved(self) -> bool:
        """The sink asked for more than there was (it runs dry until more comes or the limit moves)."""
        return self._starved

    @property
    def at_limit(self) -> bool:
        """The sink has read all that :attr:`limit` lets it."""
        return self._limit is not None and self.taken + self._frame_bytes > self._limit

    @property
    def limit(self) -> int | None:
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        self._limit = value
        self._wake()

    def push(self, data: bytes, *, counted: bool = True) -> None:
        self._chunks.append((data, counted))
        self._buffered += len(data)
        self._wake()

    def end(self) -> None:
        self.finished = True

    def _wake(self) -> None:
        if self._starved and self._allowed(1) > 0:
            self._starved = False
            self.readyRead.emit()  # a sink that ran dry pulls again

    def _allowed(self, wanted: int) -> int:
        allowed = min(wanted, self._buffered)
        if self._limit is not None:
            allowed = min(allowed, self._limit - self.taken)
        return max(0, allowed - allowed % self._frame_bytes)

    def readData(self, maxlen: int) -> bytes:
        size = self._allowed(maxlen)
        # Less than asked for: the sink may wait for readyRead before it asks again.
        self._starved = size < maxlen - maxlen % self._frame_bytes
        if size <= 0:
            return b""
        pieces = []
        left = size
        finished = 0
        while left:
            chunk, counted = self._chunks[0]
            take = min(left, len(chunk) - self._head)
            pieces.append(chunk[self._head : self._head + take])
            self._head += take
            left -= take
            if self._head == len(chunk):
                self._chunks.popleft()
                self._head = 0
                finished += counted
        self._buffered -= size
        self.taken += size
        if finished:
            self._consumed(finished)
        return b"".join(pieces)

    def writeData(self, *data: Any) -> int:  # PyQt6: (data); PySide6: (data, size)
        return -1

    def bytesAvailable(self) -> int:
        return self._allowed(self._buffered) + super().bytesAvailable()

    def isSequential(self) -> bool:
        return True


class AudioClock:
    """The playback clock (see :class:`vsengine_qt.QtClock` for the protocol): seconds of audio the
    sink has processed while audio plays, wall time otherwise. :meth:`follow` switches the source
    and says which time the source's present value stands for; the clock never goes back past a
    time it has given."""

    def __init__(self) -> None:
        self._timers = QtClock()
        self._source: Callable[[], float] = time.perf_counter
        self._offset = 0.0
        self._last = 0.0

    def now(self) -> float:
        self._last = now = self._offset + self._source()
        return now

    @property
    def last_read(self) -> float:
        """The time the last :meth:`now` returned (in a frame's slot: the time its stream showed it at)."""
        return self._last

    def follow(self, source: Callable[[], float] | None, at: float | None = None) -> None:
        """Read ``source`` (seconds) from now on (None: wall time), its current value standing for
        the time ``at`` (default: now). ``at`` must not be earlier than a time already read."""
        now = self.now() if at is None else at
        self._source = source if source is not None else time.perf_counter
        self._offset = now - self._source()

    @property
    def follows_audio(self) -> bool:
        return self._source is not time.perf_counter

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        # A wall-time timer: when audio time runs slower, the stream finds the frame not due yet and
        # asks again.
        return self._timers.call_later(delay, callback)


class AudioPlayer(QtCore.QObject):
    """Plays an audio node from a given sample through the default audio device, as :attr:`clock`.

    Raises :class:`AudioUnavailable` when QtMultimedia, a device or a format it accepts is missing.
    ``failed(str)`` says when the device stops with an error; ``ended()`` when the node's last
    sample has been played. Both hand :attr:`clock` back to wall time.
    """

    failed = Signal(str)
    ended = Signal()

    def __init__(
        self,
        node: vs.AudioNode,
        clock: AudioClock,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        multimedia = _multimedia()
        if node.sample_type != vs.FLOAT or node.bits_per_sample != 32:
            raise TypeError("AudioPlayer plays 32-bit float nodes: convert it with float_audio(node)")
        device = multimedia.QMediaDevices.defaultAudioOutput()
        if device.isNull():
            raise AudioUnavailable("audio is not played: there is no audio output device")
        fmt = multimedia.QAudioFormat()
        fmt.setSampleRate(node.sample_rate)
        fmt.setChannelCount(node.num_channels)
        fmt.setSampleFormat(multimedia.QAudioFormat.SampleFormat.Float)
        if not device.isFormatSupported(fmt):
            raise AudioUnavailable(
                f"audio is not played: {device.description()} cannot play {node.num_channels} "
                f"channels at {node.sample_rate} Hz"
            )
        self.node = node
        self.clock = clock
        self.device_name: str = device.description()
        self._rate = node.sample_rate
        self._frame_bytes = node.num_channels * _SAMPLE_BYTES
        self._volume = 1.0
        self._muted = False
        self._start = 0  # the sample the sink started from
        self._stopped_at = 0  # the position when it stopped
        self._skip = 0  # bytes of the first audio frame before it
        self._playing = False
        self._sink_started = False  # the sink starts once the first samples are there
        self.feed = AudioFeed(self._frame_bytes, self._release)
        self.feed.open(QtCore.QIODevice.OpenModeFlag.ReadOnly)
        self._sink = multimedia.QAudioSink(device, fmt, self)
        # A slot without arguments: PySide6 6.12 cannot convert the QAudio::State argument.
        self._sink.stateChanged.connect(self._on_state)
        self._pump = FramePump(
            node,
            self._deliver,
            self._fail,
            self.feed.end,
            prefetch=4,
            backlog=16,
            transform=_interleave,
            loop=loop,
            auto_release=False,
        )

    # -- control ---------------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def start_sample(self) -> int:
        """The sample the current (or last) run started from."""
        return self._start

    @property
    def position(self) -> int:
        """The sample the sink has processed up to (``start_sample`` plus what it played; where it
        stopped, once stopped)."""
        if not self._playing:
            return self._stopped_at
        # processedUSecs() is a whole number of samples rounded down to microseconds: round back.
        return self._start + round(self.seconds_played() * self._rate)

    @property
    def waiting(self) -> bool:
        """The sound has played all that :meth:`hold_at` lets it, and waits (the clock stands still)."""
        if not (self._sink_started and self.feed.at_limit):
            return False
        state = self._sink.state()
        return bool(state == type(state).IdleState)

    def seconds_played(self) -> float:
        """Seconds of audio the sink has processed since :meth:`play` (the clock's source)."""
        if not self._sink_started:
            return 0.0
        return float(self._sink.processedUSecs()) / 1_000_000

    def play(self, sample: int, at: float | None = None) -> None:
        """Play from ``sample`` on (clamped to the node). :attr:`clock` follows the audio from now,
        the first sample standing for the clock's time ``at`` (default: now): the clock stands still
        until the sound starts, then runs with it."""
        self.stop()
        sample = max(0, min(sample, self.node.num_samples))
        self._start = self._stopped_at = sample
        first, self._skip = divmod(sample, SAMPLES_PER_FRAME)
        self._skip *= self._frame_bytes
        self.feed.restart()
        if first >= self._pump.num_frames:
            self.ended.emit()
            return
        self._playing = True
        self._sink_started = False
        self._pump.seek(first)
        self.clock.follow(self.seconds_played, at)

    def stop(self) -> None:
        """Stop the sound; :attr:`clock` goes on in wall time."""
        if self._playing:
            self._stopped_at = self.position
            self._playing = False
            self._pump.stop()
            if self._sink_started:
                self._sink_started = False
                self._sink.stop()
        if self.clock.follows_audio:
            self.clock.follow(None)

    def close(self) -> None:
        self.stop()
        self._pump.close()
        self.feed.close()

    def hold_at(self, seconds: float | None) -> None:
        """Let the sink play at most ``seconds`` from the start of this run (None: no limit)."""
        if seconds is None:
            self.feed.limit = None
        else:
            samples = math.ceil(seconds * self._rate) + self._rate // 1000  # 1 ms more: never short
            self.feed.limit = samples * self._frame_bytes

    @property
    def volume(self) -> float:
        return self._volume

    def set_volume(self, volume: float) -> None:
        """Linear volume, 0.0 to 1.0."""
        if not 0.0 <= volume <= 1.0:
            raise ValueError(f"volume must lie between 0.0 and 1.0, got {volume!r}")
        self._volume = volume
        self._apply_volume()

    @property
    def muted(self) -> bool:
        return self._muted

    def set_muted(self, muted: bool) -> None:
        """Silence the sound; the audio (and so the clock) keeps running."""
        self._muted = muted
        self._apply_volume()

    def _apply_volume(self) -> None:
        self._sink.setVolume(0.0 if self._muted else self._volume)

    # -- the pump and the sink -------------------------------------------------------------------

    def _deliver(self, n: int, data: bytes, seconds: float, *, counted: bool = True) -> None:
        if self._skip:
            data, self._skip = data[self._skip :], 0
        self.feed.push(data, counted=counted)
        if not self._sink_started:
            # Started with samples to play: a sink started empty runs dry at once, and PulseAudio
            # skips what comes after such an underrun.
            self._sink_started = True
            self._apply_volume()
            self._sink.start(self.feed)

    def _fail(self, n: int, error: BaseException) -> None:
        # Silence for a frame that failed (the pump released it already): the clock goes on.
        samples = min(SAMPLES_PER_FRAME, self.node.num_samples - n * SAMPLES_PER_FRAME)
        self._deliver(n, bytes(samples * self._frame_bytes), 0.0, counted=False)

    def _release(self, frames: int) -> None:
        if self._playing:
            self._pump.release(frames)

    def _on_state(self) -> None:
        if not self._playing:
            return
        state = self._sink.state()
        error = self._sink.error()
        if error != type(error).NoError:
            self.stop()
            self.failed.emit(f"audio stopped: {self.device_name}: {error.name}")
        elif state == type(state).IdleState and self.feed.finished and not self.feed.buffered:
            self.stop()
            self.ended.emit()
