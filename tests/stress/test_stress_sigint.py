"""Ctrl+C (a real SIGINT sent to a child process) in guest and owner mode, idle and busy, with
nothing catching it: ``KeyboardInterrupt`` reaches the caller of ``app.exec()`` / ``asyncio.run``,
the clean-up of the coroutine and of the ``with`` blocks runs, and the process ends the way Python
ends on an uncaught KeyboardInterrupt (killed by SIGINT: exit status -2, 130 in a shell).

tests/qtinter/test_sigint.py covers the same with the KeyboardInterrupt caught; this adds the exit
status, vsengine-qt's session in guest mode, and a loop busy with VapourSynth frames.

Each child prints "ready" once it is in the state the Ctrl+C is meant to find (idle, or N steps or
frames into its work); the test sends SIGINT then (idle: once the child's main thread sleeps in the
kernel, where it can see that).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from stress_support import BINDING, PRELUDE

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

#: The body of ``work()``, the coroutine running when Ctrl+C comes; it prints "ready" when it is there.
BODIES = {
    "idle": 'print("ready", flush=True)\nawait asyncio.sleep(3600)',
    "busy": """\
n = 0
while True:
    await asyncio.sleep(0)
    n += 1
    if n == 1000:
        print("ready", flush=True)
""",
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
    if n == 50:
        print("ready", flush=True)
""",
}

#: A coroutine that presses Ctrl+C itself while a weakref callback runs (the callback raises SIGINT, so
#: the handler runs inside it). The frames body meets this by chance: each frame VapourSynth delivers
#: is tracked in a WeakSet, whose callback runs on the loop's thread when the frame is freed.
CTRL_C_IN_A_FINALIZER = """\
import weakref
class Garbage:
    pass
garbage = Garbage()
watch = weakref.ref(garbage, lambda _: signal.raise_signal(signal.SIGINT))
print("ready", flush=True)
del garbage
await asyncio.sleep(3600)
"""

GUEST = """
import vapoursynth as vs
import vsengine_qt
app = QtCore.QCoreApplication([])
POLICY = None


async def work():
{body}


async def main():
    try:
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
        await work()
    finally:
        print("main finally", flush=True)


try:
    with Policy(ContextVarStore()) as POLICY:
        asyncio.run(main(), loop_factory=qtinter.new_event_loop)
finally:
    print("outer finally, policy registered:", vs.has_policy(), flush=True)
"""


def _start(mode: str, body: str) -> subprocess.Popen[str]:
    """The child running `body` in `mode`, once it has printed "ready"."""
    source = (GUEST if mode == "guest" else OWNER).format(body=textwrap.indent(body, "    "))
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
    assert proc.stdout is not None
    # Byte by byte from the pipe: a buffered readline() could take what follows "ready" too, which
    # communicate() (reading the pipe itself) would then never see.
    line = ""
    while not line.endswith("\n") and (byte := os.read(proc.stdout.fileno(), 1)):
        line += byte.decode()
    if line != "ready\n":
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the child did not get ready: {line + out!r}\n{err[-2000:]}")
    return proc


def _wait_until_asleep(pid: int) -> None:
    """Wait until the main thread of process `pid` sleeps in the kernel (Qt's poll(), for an idle
    child). Where /proc is missing, return at once: the Ctrl+C then may find Qt still awake."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return
    while True:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile: the assertions say why
            return
        if fields[0] in "SZX":  # sleeping (or already gone)
            return
        time.sleep(0.001)


def _check_exit_like_python(proc: subprocess.Popen[str]) -> None:
    """The child ends as Python ends on an uncaught KeyboardInterrupt, after its clean-up ran."""
    try:
        out, err = proc.communicate(timeout=60)  # a hang guard only
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err[-2000:])
    assert err.rstrip().endswith("KeyboardInterrupt"), err[-2000:]
    assert out.splitlines() == ["main finally", "outer finally, policy registered: False"], (out, err[-2000:])


@pytest.mark.parametrize("mode", ["guest", "owner"])
@pytest.mark.parametrize("state", list(BODIES))
def test_uncaught_ctrl_c_exits_like_python(mode: str, state: str) -> None:
    proc = _start(mode, BODIES[state])
    if state == "idle":
        _wait_until_asleep(proc.pid)
    proc.send_signal(signal.SIGINT)
    _check_exit_like_python(proc)


@pytest.mark.parametrize("mode", ["guest", "owner"])
def test_ctrl_c_while_a_finalizer_runs_is_not_lost(mode: str) -> None:
    """A KeyboardInterrupt raised inside a weakref callback cannot propagate (Python prints it as
    "Exception ignored" and goes on); qtinter's handler takes it back and raises it after the loop's
    iteration. It used to be lost: the child ran on, and the frames case hung now and then."""
    _check_exit_like_python(_start(mode, CTRL_C_IN_A_FINALIZER))
