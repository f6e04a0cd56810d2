"""The code examples of the environment-policy contract document, run unchanged.

Code written against the contract (and against the public vsengine 1.x package it describes)
must run on this package as it is. The examples below are verbatim copies of the contract's
code blocks; the tests only add the glue a reader would have (the previous examples of the page
and an environment for the fragments that use one) and check what the examples print.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import vapoursynth as vs

from vsengine.policy import GlobalStore, Policy

QUICK_START = r"""
import vapoursynth as vs

from vsengine.policy import GlobalStore, Policy

with Policy(GlobalStore()) as policy, policy.new_environment() as env, env.use():
    vs.core.std.BlankClip().set_output()
print(env.outputs)  # {0: <vapoursynth.VideoOutputTuple ...>}
"""


CREATING_A_POLICY = r"""
from vsengine.policy import GlobalStore, Policy

# Manual registration
policy = Policy(GlobalStore())
policy.register()
# ... use policy ...
policy.unregister()

# Or as a context manager (recommended)
with Policy(GlobalStore()) as policy:
    # Policy is registered here
    pass
# Policy is unregistered when exiting
"""


CREATING_ENVIRONMENTS = r"""
with Policy(GlobalStore()) as policy:
    env = policy.new_environment()
    try:
        with env.use():
            # VapourSynth code here
            vs.core.std.BlankClip().set_output()
    finally:
        env.dispose()  # Always dispose when done!

    # Or use as context manager
    with policy.new_environment() as env, env.use():
        vs.core.std.BlankClip().set_output()
        # env.dispose() called automatically
"""


METHOD_USE = r"""
with env.use():
    # All VapourSynth operations use this environment
    clip = vs.core.std.BlankClip()
    clip.set_output()
"""


METHOD_SWITCH = r"""
env.switch()
# Now in this environment until another switch
"""


METHOD_DISPOSE = r"""
env.dispose()
"""


GLOBAL_STORE = r"""
from vsengine.policy import GlobalStore, Policy

policy = Policy(GlobalStore())
"""


THREAD_LOCAL_STORE = r"""
from vsengine.policy import Policy, ThreadLocalStore

policy = Policy(ThreadLocalStore())
"""


THREAD_EXAMPLE = r"""
import threading
import time

import vapoursynth as vs

from vsengine.policy import Policy, ThreadLocalStore


def worker(policy: Policy, name: str) -> None:
    with policy.new_environment() as env, env.use():
        print(f"[{name}] Started with env {id(env)}")
        time.sleep(0.1)
        # Access the underlying core from the proxy
        is_correct = vs.core.core == env.core
        print(f"[{name}] Finished. Correct Core? {is_correct}")


policy = Policy(ThreadLocalStore())

with policy:
    t1 = threading.Thread(target=worker, args=(policy, "Thread-1"))
    t2 = threading.Thread(target=worker, args=(policy, "Thread-2"))

    t1.start()
    t2.start()

    t1.join()
    t2.join()

"""


CONTEXT_VAR_STORE = r"""
from vsengine.policy import ContextVarStore, Policy

policy = Policy(ContextVarStore())
"""


ASYNCIO_EXAMPLE = r"""
import asyncio

import vapoursynth as vs

from vsengine.policy import ContextVarStore, Policy


async def async_worker(policy: Policy, name: str) -> None:
    with policy.new_environment() as env, env.use():
        print(f"[{name}] Started with env {id(env)}")

        # Yield control to allow other tasks to run.
        # This simulates I/O or other async work.
        # If ContextVarStore wasn't working, the context might get mixed up here
        # when other tasks run on this same thread.
        await asyncio.sleep(0.1)  # Context preserved across await

        # Access the underlying core from the proxy
        is_correct = vs.core.core == env.core
        print(f"[{name}] Finished. Correct Core? {is_correct}")


async def main() -> None:
    policy = Policy(ContextVarStore())

    with policy:
        # Structured concurrency: if any task raises, all others are cancelled
        # Raises ExceptionGroup on failure
        async with asyncio.TaskGroup() as group:
            group.create_task(async_worker(policy, "Task-A"))
            group.create_task(async_worker(policy, "Task-B"))
            group.create_task(async_worker(policy, "Task-C"))

        # All tasks run to completion even if one fails
        # Raises the first exception after all finish (or use return_exceptions=True)
        await asyncio.gather(
            async_worker(policy, "Task-A"), async_worker(policy, "Task-B"), async_worker(policy, "Task-C")
        )


asyncio.run(main())
"""


TRIO_EXAMPLE = r"""
import trio
import vapoursynth as vs

from vsengine.policy import ContextVarStore, Policy


async def trio_worker(policy: Policy, name: str) -> None:
    with policy.new_environment() as env, env.use():
        print(f"[{name}] Started with env {id(env)}")

        # Yield control to allow other tasks to run.
        # Context is preserved across await points with ContextVarStore
        await trio.sleep(0.1)

        # Access the underlying core from the proxy
        is_correct = vs.core.core == env.core
        print(f"[{name}] Finished. Correct Core? {is_correct}")


async def main() -> None:
    policy = Policy(ContextVarStore())

    with policy:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio_worker, policy, "Task-A")
            nursery.start_soon(trio_worker, policy, "Task-B")
            nursery.start_soon(trio_worker, policy, "Task-C")


trio.run(main)
"""


def run(code: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    namespace = {"__name__": "__spec_example__"} if namespace is None else namespace
    exec(compile(code, "<policy contract example>", "exec"), namespace)
    return namespace


def test_quick_start(capsys: pytest.CaptureFixture[str]) -> None:
    run(QUICK_START)
    assert "VideoOutputTuple" in capsys.readouterr().out
    assert not vs.has_policy()


def test_creating_a_policy() -> None:
    run(CREATING_A_POLICY)
    assert not vs.has_policy()


def test_creating_environments() -> None:
    namespace = run(QUICK_START)  # the page's imports
    run(CREATING_ENVIRONMENTS, namespace)
    assert namespace["env"].disposed
    assert not vs.has_policy()


def test_managed_environment_methods() -> None:
    namespace = run(QUICK_START)
    with Policy(GlobalStore()) as policy:
        namespace["env"] = env = policy.new_environment()
        run(METHOD_USE, namespace)
        assert list(env.outputs) == [0]
        run(METHOD_SWITCH, namespace)
        assert vs.core.core is env.core
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # disposing the current environment must stay quiet
            run(METHOD_DISPOSE, namespace)
            assert policy.managed.get_current_environment() is None
    assert env.disposed


@pytest.mark.parametrize("example", [GLOBAL_STORE, THREAD_LOCAL_STORE, CONTEXT_VAR_STORE])
def test_store_examples(example: str) -> None:
    namespace = run(example)
    assert isinstance(namespace["policy"], Policy)


def test_multi_threaded_processing(capsys: pytest.CaptureFixture[str]) -> None:
    run(THREAD_EXAMPLE)
    out = capsys.readouterr().out
    assert out.count("Correct Core? True") == 2
    assert "False" not in out


def test_asyncio_processing(capsys: pytest.CaptureFixture[str]) -> None:
    run(ASYNCIO_EXAMPLE)
    out = capsys.readouterr().out
    assert out.count("Correct Core? True") == 6
    assert "False" not in out


def test_trio_processing(capsys: pytest.CaptureFixture[str]) -> None:
    run(TRIO_EXAMPLE)
    out = capsys.readouterr().out
    assert out.count("Correct Core? True") == 3
    assert "False" not in out
