"""Ctrl+C: a real SIGINT sent to a child process reaches the caller of ``app.exec()`` /
``asyncio.run`` as KeyboardInterrupt, idle or busy, in owner and guest mode, without aborting the
process, and clean-up still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from loop_support import SCRIPT_PRELUDE

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

BODIES = {
    # asyncio has nothing to do: Qt's C++ loop sleeps in poll().
    "idle": "await asyncio.sleep(3600)",
    # asyncio is saturated with short steps.
    "busy": "while True:\n            await asyncio.sleep(0)",
    # asyncio is stuck in one long callback: as with plain asyncio, the second Ctrl+C interrupts it.
    "stuck": "while True:\n            pass",
}

OWNER = """
app = QtCore.QCoreApplication([])
log = []

async def main():
    try:
        print("ready", flush=True)
        {body}
    finally:
        log.append("main finally")

try:
    if {use_runner} and sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=qtinter.new_event_loop) as runner:
            runner.run(main())
    else:
        with qtinter.using_qt_from_asyncio():
            asyncio.run(main())
except KeyboardInterrupt:
    print("KeyboardInterrupt;", ", ".join(log), flush=True)
"""

GUEST = """
app = QtCore.QCoreApplication([])
log = []

async def main():
    try:
        print("ready", flush=True)
        {body}
    finally:
        log.append("main finally in " + asyncio.get_running_loop().get_mode().name)

try:
    with qtinter.using_asyncio_from_qt() as loop:
        loop.call_soon(lambda: loop.create_task(main()))
        exec_qt(app)
except KeyboardInterrupt:
    print("KeyboardInterrupt;", ", ".join(log), flush=True)
"""


def interrupt(source: str, signals: int = 1) -> tuple[str, str, int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT_PRELUDE + "import sys\n" + source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", (line, proc.stderr.read() if proc.stderr else "")
        # Let the loop settle (idle: Qt asleep in poll; busy: many iterations in).
        import time

        for _ in range(signals):
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out, err, proc.returncode


@pytest.mark.parametrize("state", ["idle", "busy", "stuck"])
@pytest.mark.parametrize("use_runner", [True, False], ids=["runner", "asyncio.run"])
def test_ctrl_c_in_owner_mode(state: str, use_runner: bool) -> None:
    signals = 2 if state == "stuck" else 1
    out, err, code = interrupt(OWNER.format(body=BODIES[state], use_runner=use_runner), signals)
    assert code == 0, err
    assert out.strip() == "KeyboardInterrupt; main finally", err


@pytest.mark.parametrize("state", ["idle", "busy"])
def test_ctrl_c_in_guest_mode(state: str) -> None:
    out, err, code = interrupt(GUEST.format(body=BODIES[state]))
    assert code == 0, err
    # KeyboardInterrupt is raised between two asyncio iterations, so the task is intact and the
    # clean-up (in native mode, after app.exec() returned) cancels it.
    assert out.strip() == "KeyboardInterrupt; main finally in NATIVE", err


def test_second_ctrl_c_interrupts_a_stuck_callback_in_guest_mode() -> None:
    out, err, code = interrupt(GUEST.format(body=BODIES["stuck"]), signals=2)
    assert code == 0, err
    assert out.strip() == "KeyboardInterrupt; main finally in GUEST", err
