"""Fixtures for vsengine-qt: a real QApplication (offscreen), a registered vsengine policy, and a private
sound server (PulseAudio with a null sink, where it is installed) for the audio tests.

The binding is the one named by ``QTINTERBINDING`` (the nox matrix sets it), else the first installed of
PySide6, PyQt6 and PyQt5. It is imported before anything imports qtinter.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _binding() -> str:
    requested = os.environ.get("QTINTERBINDING", "").strip()
    if requested:  # qtinter accepts any letter case ("pyqt6"): so do we
        names = {name.lower(): name for name in ("PyQt5", "PyQt6", "PySide2", "PySide6")}
        return names.get(requested.lower(), requested)
    for name in ("PySide6", "PyQt6", "PyQt5"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise RuntimeError("no Qt binding is installed for the vsengine-qt tests")


BINDING = _binding()
importlib.import_module(f"{BINDING}.QtWidgets")

from vsengine.loops import NO_LOOP, set_loop  # noqa: E402
from vsengine.policy import ContextVarStore, Policy  # noqa: E402
from vsengine_qt._qt import QtWidgets  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@dataclasses.dataclass(frozen=True)
class AudioServer:
    """A private PulseAudio server whose only sink discards what it plays (its monitor records it)."""

    address: str
    sink: str = "vsqt"

    @property
    def monitor(self) -> str:
        return f"{self.sink}.monitor"


def _start_audio_server(runtime: Path) -> tuple[subprocess.Popen[bytes], AudioServer] | None:
    """PulseAudio with a null sink (float32, 48 kHz, stereo: what the audio tests play, so nothing
    is converted on the way), listening on a socket in ``runtime``; None without ``pulseaudio``."""
    executable = shutil.which("pulseaudio")
    if executable is None:
        return None
    socket = runtime / "native"
    process = subprocess.Popen(
        [
            executable,
            "--daemonize=no",
            "-n",  # no default configuration: only the modules below
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--disable-shm=yes",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
            "--load=module-null-sink sink_name=vsqt format=float32le rate=48000 channels=2",
        ],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not socket.exists():  # the server is up once it listens
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            return None
        time.sleep(0.01)
    return process, AudioServer(f"unix:{socket}")


@pytest.fixture(scope="session", autouse=True)
def _audio_server_for_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudioServer | None]:
    """Started before any test can touch QtMultimedia (Qt looks for the sound server once per
    process), and used instead of the desktop's: the tests play into a sink nobody hears."""
    started = _start_audio_server(tmp_path_factory.mktemp("pulse"))
    if started is None:
        yield None
        return
    process, server = started
    previous = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = server.address
    try:
        yield server
    finally:
        if previous is None:
            del os.environ["PULSE_SERVER"]
        else:
            os.environ["PULSE_SERVER"] = previous
        process.terminate()
        process.wait()


@pytest.fixture
def audio_server(_audio_server_for_the_session: AudioServer | None) -> AudioServer:
    """The private sound server (the test is skipped where PulseAudio is not installed)."""
    if _audio_server_for_the_session is None:
        pytest.skip("no private sound server: install pulseaudio and pulseaudio-utils (parec)")
    if shutil.which("parec") is None:
        pytest.skip("parec (pulseaudio-utils) is needed to record what was played")
    return _audio_server_for_the_session


@pytest.fixture(scope="session")
def qapp() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["vsengine-qt-tests"])
    assert isinstance(app, QtWidgets.QApplication)
    # Tests close their windows; Qt must not quit the application for them. A quit that arrives
    # when no event loop runs (closing the last window after app.exec() returned) makes every
    # later QEventLoop.exec() return at once, until the next app.exec(): qtinter's owner mode
    # then refuses to run (tests/qtinter's conftest does the same).
    app.setQuitOnLastWindowClosed(False)
    return app


@pytest.fixture
def policy(qapp: QtWidgets.QApplication) -> Iterator[Policy]:
    with Policy(ContextVarStore()) as policy:
        yield policy
    set_loop(NO_LOOP)
