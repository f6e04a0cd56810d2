"""Ctrl+C held down while an application shuts down with frames in flight (issue 13 item 1).

The first Ctrl+C stops the application; the policy's teardown then waits inside VapourSynth for the
frames still being rendered, and VapourSynth calls back into Python meanwhile. A second
``KeyboardInterrupt`` raised in one of those callbacks used to abort the process ("VapourSynth
encountered a fatal error", 5 runs of 5). Now the teardown holds Ctrl+C back and the interrupt
arrives right after it: the core is destroyed, the policy unregistered, and the process ends the way
Python ends on Ctrl+C.

Each case runs in a child process (an abort must not take the test run with it), several times:
the signals land at different points of the teardown in each run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from vsengine._shield import sigint_deferred

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

RUNS = 4

PROGRAM = """
import asyncio, os, signal, threading, time
import vapoursynth as vs
from vsengine.adapters.asyncio import AsyncIOLoop
from vsengine.loops import set_loop
from vsengine.policy import ContextVarStore, Policy
from vsengine.video import frames


def hold_ctrl_c():
    # A SIGINT every 2 ms for 0.4 s: the first interrupts the loop, the others the shutdown.
    for _ in range(200):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.002)


def heavy_clip(env):
    with env.inline_section():
        vs.register_on_destroy(lambda: os.write(1, b"core destroyed\\n"))
    with env.use():
        blank = vs.core.std.BlankClip(width=1920, height=1080, format=vs.YUV420P8, length=1000)
        return blank.std.BoxBlur(hradius=8, vradius=8, hpasses=2, vpasses=2)


def sync_main(policy):
    env = policy.new_environment()
    iterator = frames(heavy_clip(env), env, prefetch=8, backlog=32)
    next(iterator)
    threading.Thread(target=hold_ctrl_c, daemon=True).start()
    for f in iterator:
        pass


async def async_main(policy):
    set_loop(AsyncIOLoop())
    env = policy.new_environment()
    started = False
    async for f in frames(heavy_clip(env), env, prefetch=8, backlog=32):
        if not started:
            started = True
            threading.Thread(target=hold_ctrl_c, daemon=True).start()


with Policy(ContextVarStore()) as policy:
    if MODE == "sync":
        sync_main(policy)
    else:
        asyncio.run(async_main(policy))
"""


@pytest.mark.parametrize("run", range(RUNS))
@pytest.mark.parametrize("mode", ["sync", "asyncio"])
def test_ctrl_c_during_the_teardown_never_aborts(mode: str, run: int) -> None:
    source = f"MODE = {mode!r}\n" + textwrap.dedent(PROGRAM)
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120, check=False
    )
    assert "fatal error" not in result.stderr.lower(), result.stderr[-3000:]
    assert result.returncode == -signal.SIGINT, (result.returncode, result.stderr[-3000:])
    assert result.stderr.rstrip().endswith("KeyboardInterrupt"), result.stderr[-3000:]
    # The teardown ran to its end: VapourSynth destroyed the core.
    assert result.stdout.splitlines() == ["core destroyed"], (result.stdout, result.stderr[-3000:])


def test_the_held_back_signals_reach_the_handler_afterwards() -> None:
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        with sigint_deferred():
            with sigint_deferred():  # nested: still held back until the outer block ends
                for _ in range(3):
                    signal.raise_signal(signal.SIGINT)
            assert received == []
        assert received == [signal.SIGINT] * 3
        signal.raise_signal(signal.SIGINT)  # the handler is back in place
        assert len(received) == 4
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_after_the_teardown_is_a_keyboard_interrupt() -> None:
    finished = []

    def teardown() -> None:
        with sigint_deferred():
            signal.raise_signal(signal.SIGINT)
            finished.append(True)

    with pytest.raises(KeyboardInterrupt):
        teardown()
    assert finished == [True]


def test_other_threads_are_not_affected() -> None:
    handlers: list[object] = []

    def worker() -> None:
        with sigint_deferred():
            handlers.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert handlers == [before]
