"""Audio outputs played with the video, through a real QAudioSink into a real sound server.

The sound server is a private PulseAudio with a null sink (conftest.py's ``audio_server``, skipped
where ``pulseaudio`` is not installed); ``parec`` records the sink's monitor, so the tests see the
samples that reached the server, not what we meant to send. The test clip's audio encodes each
sample's index (a 'slope' waveform with a period of 2**24 samples: sample i is -1 + i / 2**23 on the
left channel and its negation on the right), so a recording says exactly which samples were played,
in which order. Synchronisation is checked by sample positions: whenever a frame is shown, the
audio clock (the sink's processed samples) must lie within that frame's samples.
"""

from __future__ import annotations

import array
import importlib
import itertools
import os
import statistics
import subprocess
import sys
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest
from vsqt_helpers import GATES, Gate, run, wait_for_signal, wait_until

from vsengine_qt import PreviewWindow
from vsengine_qt._qt import BINDING, QT5, QtCore
from vsengine_qt._viewer import AUDIO_SLACK

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import AudioServer

    from vsengine.policy import Policy
    from vsengine_qt._audio import AudioPlayer

RATE = 48000
FPS = Fraction(24)
#: Samples per video frame at 24 fps and 48 kHz.
PER_FRAME = int(RATE / FPS)

#: 240 frames of 64x64 grey at 24 fps, and 10 s of audio whose samples encode their index.
SCRIPT = f"""
import vapoursynth as vs
core = vs.core
core.std.BlankClip(width=64, height=64, format=vs.GRAY8, length=240, fpsnum=24).set_output(0)
slope = core.std.BlankAudio(channels=[vs.FRONT_LEFT], length={RATE * 10}, sampletype=vs.FLOAT, bits=32,
                            samplerate={RATE}, waveform="slope", amplitude=1.0, frequency={RATE}/2**24)
core.std.AudioMix([slope], matrix=[1, -1], channels_out=[vs.FRONT_LEFT, vs.FRONT_RIGHT]).set_output(1)
"""


#: What the previewer says on Qt 5 bindings, whatever else is there or missing.
QT5_UNAVAILABLE = f"audio is not played: it needs a Qt 6 binding (PyQt6 or PySide6); {BINDING} has Qt 5"
#: The tests that play sound: on Qt 6 bindings only (Qt 5's QtMultimedia has another audio API).
plays_sound = pytest.mark.skipif(QT5, reason=QT5_UNAVAILABLE)


def sample_of(n: int) -> int:
    return n * PER_FRAME


class Recording:
    """``parec`` recording the null sink's monitor as stereo float32 at 48 kHz, from start to stop."""

    def __init__(self, server: AudioServer, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self.process = subprocess.Popen(
            ["parec", "--raw", "--format=float32le", f"--rate={RATE}", "--channels=2", "-d", server.monitor],
            stdout=self._file,
            stderr=subprocess.PIPE,
            env={**os.environ, "PULSE_SERVER": server.address},
        )

    async def started(self) -> None:
        """Wait until data flows (the monitor records silence while nothing plays)."""
        await wait_until(lambda: self.path.stat().st_size > 0 or self.process.poll() is not None)
        assert self.process.poll() is None, self.process.stderr.read() if self.process.stderr else ""

    def stop(self) -> list[tuple[float, float]]:
        self.process.terminate()
        self.process.communicate(timeout=20)
        self._file.close()
        samples = array.array("f")
        data = self.path.read_bytes()
        samples.frombytes(data[: len(data) - len(data) % 8])
        return list(zip(samples[0::2], samples[1::2], strict=True))


def played_runs(recording: list[tuple[float, float]]) -> list[list[int]]:
    """The sample indexes in a recording, one list per run of playback: a new run starts where the
    index goes back. Silence is skipped; a stereo pair whose channels disagree is an error, and so
    is a value that is not exactly one of the clip's (something mixed or resampled it)."""
    runs: list[list[int]] = []
    for left, right in recording:
        if left == 0.0 and right == 0.0:
            continue
        assert right == -left, (left, right)
        index = round((left + 1) * 2**23)
        assert (left + 1) * 2**23 == index, left
        if not runs or index <= runs[-1][-1]:
            runs.append([])
        runs[-1].append(index)
    return runs


def open_window(policy: Policy, script: Path) -> PreviewWindow:
    window = PreviewWindow(policy, script)
    window.resize(800, 500)
    window.show()
    return window


async def audio_of(window: PreviewWindow) -> AudioPlayer:
    """The window's audio player, once its first frame is on screen."""
    await wait_for_signal(window.frameShown)
    assert window.audio is not None, window.audio_status
    return window.audio


@plays_sound
def test_audio_plays_the_frames_samples_in_step_and_restarts_where_playback_does(
    policy: Policy, tmp_path: Path, audio_server: AudioServer
) -> None:
    """Keep time: every frame is shown while the audio clock lies within its samples; pausing stops
    the sound, and playing again after a seek starts it at the new frame's first sample.

    PulseAudio skips the samples that come too late after an underrun (a loaded machine): the
    recording may have gaps, but never a sample out of order, and each run starts exactly at the
    first sample of the first frame played."""
    script = tmp_path / "av.vpy"
    script.write_text(SCRIPT)

    async def main() -> tuple[list[tuple[int, int]], list[list[int]], list[int], bool]:
        window = open_window(policy, script)
        shown: list[tuple[int, int]] = []
        try:
            audio = await audio_of(window)
            recording = Recording(audio_server, tmp_path / "monitor.raw")
            await recording.started()
            window.set_mode("keep time")
            window.frameShown.connect(lambda n: shown.append((n, audio.position)) if window.playing else None)
            starts = []
            for frame, count in ((120, 24), (10, 48)):  # the second run starts before the first
                window.seek(frame)
                await wait_for_signal(window.frameShown)
                window.play()
                await wait_until(lambda count=count: len(shown) >= count)  # type: ignore[misc]
                starts.append(audio.start_sample)
                last_shown = shown[-1][1]
                window.pause()
                assert audio.position >= last_shown  # where the sound stopped
            return shown, played_runs(recording.stop()), starts, audio.playing
        finally:
            window.close()

    shown, runs, starts, playing_after_pause = run(main())
    assert not playing_after_pause
    assert starts == [sample_of(121), sample_of(11)]  # from the frame after the one on screen
    for n, position in shown:
        # The test reads the clock a moment after the stream did: allow one frame's worth more.
        assert sample_of(n) <= position < sample_of(n + 2), (n, position, position / PER_FRAME)
    # What reached the sound server: each run from its first sample on, in order.
    assert [run[0] for run in runs] == starts, [(run[0], len(run)) for run in runs]
    assert all(run == sorted(set(run)) for run in runs)
    assert all(len(run) >= PER_FRAME for run in runs)


@plays_sound
def test_every_frame_holds_the_audio_while_a_frame_is_late(
    policy: Policy, tmp_path: Path, audio_server: AudioServer
) -> None:
    """Show every frame: when a frame takes long to render, the audio stops at most a little after
    that frame's time and goes on once the frame is shown (no drift between sound and picture)."""
    gate = GATES["late-frame"] = Gate()
    script = tmp_path / "late.vpy"
    script.write_text(
        SCRIPT.replace(
            "core.std.BlankClip(width=64, height=64, format=vs.GRAY8, length=240, fpsnum=24).set_output(0)",
            "clip = core.std.BlankClip(width=64, height=64, format=vs.GRAY8, length=240, fpsnum=24)\n"
            "import vsqt_helpers\n"
            "def late(n):\n"
            "    if n == 12:\n"
            "        vsqt_helpers.GATES['late-frame'].wait()\n"
            "    return clip\n"
            "core.std.FrameEval(clip, late).set_output(0)",
        )
    )

    async def main() -> tuple[int, list[tuple[int, int]]]:
        window = open_window(policy, script)
        shown: list[tuple[int, int]] = []
        try:
            audio = await audio_of(window)
            window.set_mode("every frame")
            window.frameShown.connect(lambda n: shown.append((n, audio.position)) if window.playing else None)
            window.play()
            await gate.reached()  # frame 12 is being rendered, and waits
            await wait_until(lambda: audio.waiting)  # the sound played up to what the video allows
            held = audio.position
            gate.open()
            await wait_until(lambda: len(shown) >= 20)
            window.pause()
            return held, shown
        finally:
            gate.open()
            window.close()

    try:
        held, shown = run(main())
    finally:
        del GATES["late-frame"]
    # Frame 11 was the last shown: the sound stopped after its end, within the hold's slack.
    assert sample_of(12) <= held <= sample_of(12) + int(RATE * AUDIO_SLACK) + RATE // 1000 + 1, held
    # Every frame, in order (after the late one they come at once: more than 20 may be in by the pause).
    assert [n for n, _ in shown][:20] == list(range(1, 21))
    for n, position in shown:
        assert sample_of(n) <= position <= sample_of(n + 1) + int(RATE * AUDIO_SLACK) + PER_FRAME, (
            n,
            position,
        )


@plays_sound
def test_mute_and_volume(policy: Policy, tmp_path: Path, audio_server: AudioServer) -> None:
    """Mute silences the sound but not the clock (the frames keep coming at its pace); the volume
    scales the samples that reach the sound server."""
    script = tmp_path / "av.vpy"
    script.write_text(SCRIPT)

    async def record(window: PreviewWindow, name: str, frames: int) -> list[tuple[float, float]]:
        shown: list[int] = []

        def on_frame(n: int) -> None:
            if window.playing:
                shown.append(n)

        recording = Recording(audio_server, tmp_path / name)
        await recording.started()
        window.frameShown.connect(on_frame)
        window.play()
        await wait_until(lambda: len(shown) >= frames)
        window.pause()
        window.frameShown.disconnect(on_frame)
        return recording.stop()

    async def main() -> tuple[list[tuple[float, float]], list[tuple[float, float]], float]:
        window = open_window(policy, script)
        try:
            audio = await audio_of(window)
            window.volume_slider.setValue(50)
            key_m = QtCore.Qt.Key.Key_M
            importlib.import_module(f"{BINDING}.QtTest").QTest.keyClick(window, key_m)  # mute
            muted = await record(window, "muted.raw", 24)
            window.mute_box.setChecked(False)
            half = await record(window, "half.raw", 24)
            return muted, half, audio.volume
        finally:
            window.close()

    muted, half, volume = run(main())
    assert volume == 0.5
    assert {sample for pair in muted for sample in pair} == {0.0}
    # At half volume, neighbouring samples of the slope differ by half a step (2**-23 at full).
    steps = [
        (b[0] - a[0]) * 2**23
        for a, b in itertools.pairwise(half)
        if a[0] and b[0] and 0 < b[0] - a[0] < 2**-20
    ]
    assert len(steps) > PER_FRAME
    assert abs(statistics.median(steps) - 0.5) < 0.01, statistics.median(steps)
    assert all(right == -left for left, right in half)


@plays_sound
def test_playback_goes_on_when_the_audio_ends(
    policy: Policy, tmp_path: Path, audio_server: AudioServer
) -> None:
    """Audio shorter than the video: once its last sample has played, the frames go on in wall time."""
    script = tmp_path / "short.vpy"
    script.write_text(SCRIPT.replace(f"length={RATE * 10}", f"length={RATE // 2}"))  # 0.5 s: 12 frames

    async def main() -> tuple[list[int], bool, bool]:
        window = open_window(policy, script)
        shown: list[int] = []
        try:
            audio = await audio_of(window)
            window.frameShown.connect(lambda n: shown.append(n) if window.playing else None)
            window.play()
            await wait_until(lambda: len(shown) >= 36)  # well past the sound's 12 frames
            ended = not audio.playing
            follows_audio = window._clock.follows_audio
            window.pause()
            return shown, ended, follows_audio
        finally:
            window.close()

    shown, ended, follows_audio = run(main())
    assert shown[:36] == list(range(1, 37))  # every frame, on past the end of the sound
    assert ended
    assert not follows_audio


def audio_child(tmp_path: Path, env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Open the window on the audio script in a child process; print what it says about audio."""
    script = tmp_path / "av.vpy"
    script.write_text(SCRIPT)
    code = f"""
{prelude}
import asyncio, sys
import qtinter
from vsengine_qt._qt import QtWidgets
from vsengine_qt import PreviewWindow, setup
app = QtWidgets.QApplication(["audio-child"])

async def main():
    with setup() as session:
        window = PreviewWindow(session.policy, {str(script)!r})
        window.show()
        shown = asyncio.get_running_loop().create_future()
        window.frameShown.connect(lambda n: shown.done() or shown.set_result(n))
        await asyncio.wait_for(shown, 60)
        print("audio:", window.audio_status)
        print("audio label:", window.audio_label.text())
        window.play()
        played = asyncio.get_running_loop().create_future()
        window.frameShown.connect(lambda n: played.done() or n < 3 or played.set_result(n))
        print("played to frame", await asyncio.wait_for(played, 60) >= 3)
        window.close()

asyncio.run(main(), loop_factory=qtinter.new_event_loop)
"""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env, check=False
    )


@pytest.mark.parametrize("missing", ["device", "qtmultimedia"])
def test_audio_unavailable_is_said_and_the_video_plays(tmp_path: Path, missing: str) -> None:
    """Where audio cannot be played, the window says why and the video plays without it; on a Qt 5
    binding the reason is always that audio needs Qt 6."""
    env = {**os.environ, "QTINTERBINDING": BINDING, "QT_QPA_PLATFORM": "offscreen"}
    prelude = ""
    if missing == "device":
        env["PULSE_SERVER"] = f"unix:{tmp_path / 'no-server'}"  # no sound server: no device
        expected = "audio is not played: there is no audio output device"
    else:
        prelude = f"import sys; sys.modules[{BINDING + '.QtMultimedia'!r}] = None  # as if not installed"
        expected = f"audio is not played: {BINDING}.QtMultimedia is missing"
    if QT5:
        expected = QT5_UNAVAILABLE
    result = audio_child(tmp_path, env, prelude)
    assert result.returncode == 0, result.stderr
    assert f"audio: {expected}" in result.stdout, result.stdout + result.stderr
    assert "audio label: no sound" in result.stdout
    assert "played to frame True" in result.stdout
