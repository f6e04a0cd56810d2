"""vsengine._compat: VapourSynth's worker threads keep their Python thread state between callbacks,
and free it when they end, whichever way their core goes (docs/vsengine-qt/performance.md)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from vsengine import _compat

# Each scenario runs in a child: it counts the interpreter's thread states (CPython's public C API),
# and a thread state freed wrongly would crash the process, which must be seen as such.
CHILD = r"""
import ctypes, gc, sys, threading, warnings
import vapoursynth as vs
from vsengine._compat import keep_thread_state
from vsengine._release import release_queue
from vsengine.policy import ContextVarStore, Policy

api = ctypes.pythonapi
api.PyInterpreterState_Get.restype = ctypes.c_void_p
api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
api.PyThreadState_Next.restype = ctypes.c_void_p
api.PyThreadState_Next.argtypes = [ctypes.c_void_p]


def released():
    '''Every disposed core destroyed (VapourSynth joins its worker threads) and vsengine's release
    thread, a Python thread with a thread state of its own, gone.'''
    assert release_queue.wait_until_empty(30)
    thread = release_queue._thread
    if thread is not None:
        thread.join(30)


def thread_states():
    count, state = 0, api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Get())
    while state:
        count, state = count + 1, api.PyThreadState_Next(state)
    return count


def stream(env, keep=True, count=400):
    '''Frames through callbacks on the core's worker threads; returns how many callbacks found the
    thread-local mark an earlier callback on their thread left (only a kept thread state keeps it).'''
    with env.use():
        clip = vs.core.std.BlankClip(keep=True, length=count)
    done, lock, state = threading.Event(), threading.Lock(), {"done": 0, "remembered": 0}
    local = threading.local()

    def completed(frame, error):
        if keep:
            keep_thread_state()
        remembered = getattr(local, "mark", False)
        local.mark = True
        with lock:
            state["remembered"] += remembered
            state["done"] += 1
            if state["done"] == count:
                done.set()

    for n in range(count):
        clip.get_frame_async(n, completed)
    assert done.wait(60), "frames never completed"
    return state["remembered"]


base = thread_states()
scenario = sys.argv[1]
if scenario in ("dispose", "plain"):
    with Policy(ContextVarStore()) as policy:
        for _ in range(10):
            env = policy.new_environment()
            remembered = stream(env, keep=scenario == "dispose")
            kept = thread_states() - base
            env.dispose()
        released()
        print("remembered", remembered, "kept", kept, "left", thread_states() - base)
elif scenario == "unregister":
    policy = Policy(ContextVarStore())
    policy.register()
    environments = [policy.new_environment() for _ in range(3)]
    remembered = sum(stream(env) for env in environments)
    kept = thread_states() - base
    policy.unregister()
    print("remembered", remembered, "kept", kept, "left", thread_states() - base)
elif scenario == "collected":
    policy = Policy(ContextVarStore())
    policy.register()
    env = policy.new_environment()
    remembered = stream(env)
    kept = thread_states() - base
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del env
        gc.collect()
    released()
    print("remembered", remembered, "kept", kept, "left", thread_states() - base)
    policy.unregister()
elif scenario == "python-threads":
    # Threads Python started (and the main thread) own their thread state: never kept on top.
    keep_thread_state()
    thread = threading.Thread(target=keep_thread_state)
    thread.start()
    thread.join()
    print("remembered", 0, "kept", 0, "left", thread_states() - base)
elif scenario == "exit-registered":
    policy = Policy(ContextVarStore())
    policy.register()
    stream(policy.new_environment())
    print("exiting with", thread_states() - base, "kept")
elif scenario == "exit-with":
    with Policy(ContextVarStore()) as policy:
        stream(policy.new_environment())
        print("exiting with", thread_states() - base, "kept")
        sys.exit(0)
"""


def run_child(scenario: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, scenario], capture_output=True, text=True, timeout=120, check=False
    )


def counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}


needs_kept_states = pytest.mark.skipif(
    not _compat.ENABLED, reason="thread states are kept on Linux/glibc, CPython 3.12"
)


def test_enabled_where_it_was_checked() -> None:
    """On the platforms where every step was checked the speed-up is on (CI would notice a silent off)."""
    checked = (
        sys.implementation.name == "cpython"
        and sys.version_info[:2] == (3, 12)
        and sys.platform == "linux"
        and platform.libc_ver()[0] == "glibc"
    )
    assert _compat.ENABLED is checked


@needs_kept_states
@pytest.mark.parametrize("scenario", ["dispose", "unregister", "collected"])
def test_worker_threads_keep_their_state_and_free_it_with_their_core(scenario: str) -> None:
    """While frames flow, a worker thread's later callbacks see what its earlier ones left (one
    thread state per worker, not one per callback); once the core is destroyed (disposed, the policy
    unregistered, or the environment collected without dispose) no thread state is left."""
    result = counts(run_child(scenario))
    assert result["remembered"] > 0
    assert result["kept"] >= 1
    assert result["left"] == 0


def test_callbacks_that_do_not_ask_keep_nothing() -> None:
    """Without `keep_thread_state` every callback gets a new thread state (VapourSynth's own way).
    (Not counted while frames flow: the callback that completed the last frame may still be
    returning then, with its thread state.)"""
    result = counts(run_child("plain"))
    assert result["remembered"] == 0
    assert result["left"] == 0


def test_threads_python_started_are_left_alone() -> None:
    """The main thread and a `threading.Thread` own their thread state: keeping it on top would free
    it twice when the thread ends."""
    assert counts(run_child("python-threads"))["left"] == 0


@needs_kept_states
@pytest.mark.parametrize("scenario", ["exit-registered", "exit-with"])
@pytest.mark.parametrize("attempt", range(3))
def test_exit_with_kept_thread_states_is_clean(scenario: str, attempt: int) -> None:
    """Ending the process while worker threads keep their thread state, with the policy left
    registered or unregistered by its ``with``: exit status 0, no fatal error."""
    result = run_child(scenario)
    assert result.returncode == 0, result.stderr
    assert "exiting with" in result.stdout
    assert "Fatal" not in result.stderr
