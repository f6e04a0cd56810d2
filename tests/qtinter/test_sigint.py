"""Ctrl+C: a real SIGINT reaches the code that started the loop as KeyboardInterrupt, idle, busy or
stuck, in owner and guest mode, without aborting the process, and clean-up still runs. Owner mode
behaves exactly as asyncio's own loop (issue 12 item 10); the signal wake-up descriptor is never
left on a loop's self-pipe (item 12).

Each case runs in a child process. The child says "ready" once the loop is in the state under test
(idle: from a callback that runs after the coroutine suspended; busy or stuck: from the coroutine
right before its loop), then the test sends SIGINT; a second press comes from the stuck coroutine
itself (``os.kill`` runs the handler before it returns), so no case depends on timing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
from loop_support import SCRIPT_PRELUDE

import qtinter

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

BODIES = {
    # asyncio has nothing to do: Qt's C++ loop sleeps in poll() (a stock loop: in select()).
    "idle": 'asyncio.get_running_loop().call_soon(print, "ready")\n        await asyncio.sleep(3600)',
    # asyncio is saturated with short steps.
    "busy": 'print("ready")\n        while True:\n            await asyncio.sleep(0)',
    # asyncio is stuck in one long callback.
    "stuck": 'print("ready")\n        while True:\n            pass',
    # stuck, and Ctrl+C pressed twice (the second press comes while the first has been handled).
    "stuck-twice": (
        'print("ready")\n        os.kill(os.getpid(), signal.SIGINT)\n'
        "        os.kill(os.getpid(), signal.SIGINT)\n        while True:\n            pass"
    ),
}

SCRIPT = """
import signal
if {qt}:
    app = QtCore.QCoreApplication([])
log = []

async def main():
    try:
        {body}
    finally:
        log.append("main finally")

factory = qtinter.new_event_loop if {qt} else asyncio.new_event_loop
try:
    if {entry!r} == "runner":
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    else:
        loop = factory()
        loop.run_until_complete(main())
except KeyboardInterrupt:
    print("KeyboardInterrupt;", ", ".join(log), flush=True)
"""

GUEST = """
import signal
app = QtCore.QCoreApplication([])
log = []

async def main():
    try:
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


def interrupt(source: str, *, press: bool = True) -> tuple[str, str, int]:
    """Run ``source`` in a child; once it prints "ready", send it SIGINT (``press``); return its output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Unbuffered bytes: readline() then takes exactly one line, and communicate() gets the rest
    # (a buffered reader could have swallowed it already).
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT_PRELUDE + "import sys\n" + source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.strip() == "ready", (line, proc.stderr.read().decode() if proc.stderr else "")
        if press:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out.decode(), err.decode(), proc.returncode


#: What asyncio's own loop does (and so ours, in owner mode), per entry point and state. Where the
#: signal lands decides whether the main task's finally has run: at once in a coroutine that is
#: running; not yet (the task stays pending) when it lands between callbacks or while idle.
STOCK = {
    # asyncio.Runner's handler: the first press cancels the main task, whose clean-up runs; a
    # second press raises at once (a stuck coroutine never sees the cancellation).
    ("runner", "idle"): {"KeyboardInterrupt; main finally"},
    ("runner", "busy"): {"KeyboardInterrupt; main finally"},
    ("runner", "stuck-twice"): {"KeyboardInterrupt; main finally"},
    # Python's default handler: KeyboardInterrupt at once, wherever Python runs.
    ("run_until_complete", "idle"): {"KeyboardInterrupt;"},
    ("run_until_complete", "busy"): {"KeyboardInterrupt;", "KeyboardInterrupt; main finally"},
    ("run_until_complete", "stuck"): {"KeyboardInterrupt; main finally"},
}


def skip_without_runner(entry: str) -> None:
    if entry == "runner" and sys.version_info < (3, 11):
        # 3.10's asyncio.run has no Ctrl+C handling: Python's default handler can raise between a
        # task's step being taken from the ready queue and run, and asyncio.run's clean-up then
        # waits for that task forever, on asyncio's own loop as on any other.
        pytest.skip("asyncio.Runner (and asyncio.run's Ctrl+C handling) is new in 3.11")


def check_table_row(entry: str, state: str, *, qt: bool) -> None:
    """Run the program of one row of STOCK (on qtinter's loop or asyncio's), press Ctrl+C, and check
    that it printed what the row says."""
    skip_without_runner(entry)
    out, err, code = interrupt(
        SCRIPT.format(qt=qt, entry=entry, body=BODIES[state]), press=state != "stuck-twice"
    )
    assert code == 0, err
    assert out.strip() in STOCK[entry, state], err


@pytest.mark.parametrize(("entry", "state"), list(STOCK), ids=[f"{e}-{s}" for e, s in STOCK])
def test_ctrl_c_in_owner_mode_is_asyncios(entry: str, state: str) -> None:
    check_table_row(entry, state, qt=True)


@pytest.mark.skipif(
    os.environ.get("QTINTERBINDING") != "PyQt6", reason="asyncio's own loop: one binding will do"
)
@pytest.mark.parametrize(("entry", "state"), list(STOCK), ids=[f"{e}-{s}" for e, s in STOCK])
def test_the_stock_loop_does_what_the_table_says(entry: str, state: str) -> None:
    # The reference for the test above: the same programs on asyncio's own loop.
    check_table_row(entry, state, qt=False)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        # Idle: KeyboardInterrupt is raised before the next asyncio iteration, so the task is
        # intact and the clean-up (in native mode, after app.exec() returned) cancels it.
        ("idle", {"KeyboardInterrupt; main finally in NATIVE"}),
        # Busy: raised in the coroutine (its finally runs at once, in guest mode) or, if the signal
        # lands in asyncio's own code, after that iteration (then as idle).
        ("busy", {"KeyboardInterrupt; main finally in GUEST", "KeyboardInterrupt; main finally in NATIVE"}),
        # Stuck: the first press raises in the stuck coroutine at once, as under asyncio's own loop.
        ("stuck", {"KeyboardInterrupt; main finally in GUEST"}),
    ],
)
def test_ctrl_c_in_guest_mode(state: str, expected: set[str]) -> None:
    out, err, code = interrupt(GUEST.format(body=BODIES[state]))
    assert code == 0, err
    assert out.strip() in expected, err


def test_ctrl_c_in_guest_mode_waits_for_the_iteration_inside_asyncios_machinery() -> None:
    # The handler called as the signal would call it while asyncio's Handle._run is the frame that
    # runs (between a ready callback being taken from the queue and run, raising would leave a task
    # step lost and the clean-up awaiting that task forever): recorded, raised after the iteration.
    body = (
        'print("ready")\n'
        "        def press_in_asyncio():\n"
        "            signal.getsignal(signal.SIGINT)(signal.SIGINT, sys._getframe(1))\n"
        '            print("not raised yet", flush=True)\n'
        "        asyncio.get_running_loop().call_soon(press_in_asyncio)\n"
        "        await asyncio.sleep(3600)"
    )
    out, err, code = interrupt(GUEST.format(body=body), press=False)
    assert code == 0, err
    assert out.splitlines() == ["not raised yet", "KeyboardInterrupt; main finally in NATIVE"], err


# -- the signal wake-up descriptor (issue 12 item 12) -----------------------------------------------------


@pytest.fixture
def wakeup_fd_restored() -> object:
    previous = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous)
    yield
    signal.set_wakeup_fd(previous)


def current_wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd


@pytest.mark.usefixtures("wakeup_fd_restored")
def test_a_signal_handler_removed_in_a_later_run_leaves_no_wakeup_fd_on_the_loop() -> None:
    # aiohttp's web.run_app() ended by Ctrl+C: a handler added in one run and removed in another.
    signal.set_wakeup_fd(-1)
    loop = qtinter.new_event_loop()
    try:
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)  # asyncio points the fd at the loop
        own_fd = current_wakeup_fd()
        assert own_fd != -1

        async def remove_it() -> None:
            loop.remove_signal_handler(signal.SIGUSR1)

        loop.run_until_complete(remove_it())
        assert current_wakeup_fd() == -1  # not the loop's own descriptor, "restored" as a previous one
    finally:
        loop.close()
    assert current_wakeup_fd() == -1
    # A later loop runs (it would find a closed or reused descriptor otherwise).
    assert asyncio.run(asyncio.sleep(0, "ok"), debug=False) == "ok"


@pytest.mark.usefixtures("wakeup_fd_restored")
def test_a_previous_wakeup_fd_closed_during_the_run_does_not_break_the_loop() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    signal.set_wakeup_fd(ours.fileno())
    loop = qtinter.new_event_loop()
    try:

        async def close_it() -> str:
            ours.close()  # its owner closes it while the loop runs in front of it
            return "closed"

        assert loop.run_until_complete(close_it()) == "closed"  # restoring it raises nothing
        assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"
    finally:
        loop.close()
        theirs.close()


@pytest.mark.usefixtures("wakeup_fd_restored")
def test_the_previous_wakeup_fd_is_restored_after_a_run() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        signal.set_wakeup_fd(ours.fileno())
        loop = qtinter.new_event_loop()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()
        assert current_wakeup_fd() == ours.fileno()
    finally:
        signal.set_wakeup_fd(-1)
        ours.close()
        theirs.close()
