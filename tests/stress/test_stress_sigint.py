"""Ctrl+C (a real SIGINT sent to a child process) in guest and owner mode, idle and busy, with
nothing catching it: ``KeyboardInterrupt`` reaches the caller of ``app.exec()`` / ``asyncio.run``,
the clean-up of the coroutine and of the ``with`` blocks runs, and the process ends the way Python
ends on an uncaught KeyboardInterrupt (killed by SIGINT: exit status -2, 130 in a shell).

tests/qtinter/test_sigint.py covers the same with the KeyboardInterrupt caught; this adds the exit
status, vsengine-qt's session in guest mode, and a loop busy with VapourSynth frames.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from stress_support import BINDING, PRELUDE

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

#: The body of ``work()``, the coroutine running when Ctrl+C comes.
BODIES = {
    "idle": "await asyncio.sleep(3600)",
    "busy": "while True:\n    await asyncio.sleep(0)",
    # Busy with frames: VapourSynth renders and the loop takes every frame as it arrives.
    "frames": """\
from vsengine.video import frame
env = POLICY.new_environment()
with env.use():
    clip = vs.core.std.BlankClip(width=640, height=360, length=100000)
n = 0
while True:
    (await frame(clip, n % 100000, env)).close()
    n += 1
""",
}

GUEST = """
import vapoursynth as vs
import vsengine_qt
app = QtCore.QCoreApplication([])
POLICY = None


async def work():
{body}


async def main():
    try:
        print("ready", flush=True)
        await work()
    finally:
        print("main finally", flush=True)


try:
    with vsengine_qt.setup() as session:
        POLICY = session.policy
        QtCore.QTimer.singleShot(0, lambda: session.asyncio_loop.create_task(main()))
        exec_qt(app)
finally:
    print("outer finally, policy registered:", vs.has_policy(), flush=True)
"""

OWNER = """
import vapoursynth as vs
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import set_loop
from vsengine.policy import ContextVarStore, Policy
app = QtCore.QCoreApplication([])
POLICY = None


async def work():
{body}


async def main():
    set_loop(AsyncIOLoop())
    try:
        print("ready", flush=True)
        await work()
    finally:
        print("main finally", flush=True)


try:
    with Policy(ContextVarStore()) as POLICY:
        asyncio.run(main(), loop_factory=qtinter.new_event_loop)
finally:
    print("outer finally, policy registered:", vs.has_policy(), flush=True)
"""


@pytest.mark.parametrize("mode", ["guest", "owner"])
@pytest.mark.parametrize("state", list(BODIES))
def test_uncaught_ctrl_c_exits_like_python(mode: str, state: str) -> None:
    source = (GUEST if mode == "guest" else OWNER).format(body=textwrap.indent(BODIES[state], "    "))
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "QTINTERBINDING": BINDING,
            "PYTHONUNBUFFERED": "1",
        },
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", (line, proc.stderr.read() if proc.stderr else "")
        time.sleep(0.3)  # idle: Qt asleep in poll(); busy: many iterations in
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err[-2000:])
    assert err.rstrip().endswith("KeyboardInterrupt"), err[-2000:]
    assert out.splitlines() == ["main finally", "outer finally, policy registered: False"], (out, err[-2000:])
