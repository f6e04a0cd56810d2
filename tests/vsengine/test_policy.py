"""vsengine.policy: stores, policies and managed environments on real VapourSynth cores."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import warnings
import weakref
from typing import TYPE_CHECKING

import pytest
import vapoursynth as vs

from vsengine._release import release_queue
from vsengine.policy import (
    ContextVarStore,
    EnvironmentStore,
    GlobalStore,
    ManagedEnvironment,
    Policy,
    ThreadLocalStore,
)

if TYPE_CHECKING:
    from collections.abc import Callable

WAIT = 10.0


def destroyed_event(env: ManagedEnvironment) -> threading.Event:
    """An event set when VapourSynth really destroys ``env``'s core."""
    event = threading.Event()
    with env.inline_section():
        vs.register_on_destroy(event.set)
    return event


# -- stores ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("store_type", [GlobalStore, ThreadLocalStore, ContextVarStore])
def test_store_round_trip(store_type: Callable[[], EnvironmentStore], policy: Policy) -> None:
    store = store_type()
    assert store.get_current_environment() is None
    data = policy.api.create_environment()
    try:
        store.set_current_environment(data)
        assert store.get_current_environment() is data
        store.set_current_environment(None)
        assert store.get_current_environment() is None
    finally:
        policy.api.destroy_environment(data)


def test_environment_store_methods_must_be_implemented() -> None:
    store = EnvironmentStore()
    with pytest.raises(NotImplementedError, match="get_current_environment"):
        store.get_current_environment()
    with pytest.raises(NotImplementedError, match="set_current_environment"):
        store.set_current_environment(None)


def test_thread_local_store_is_per_thread(policy: Policy) -> None:
    store = ThreadLocalStore()
    data = policy.api.create_environment()
    try:
        store.set_current_environment(data)
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(store.get_current_environment()))
        thread.start()
        thread.join(WAIT)
        assert seen == [None]
        assert store.get_current_environment() is data
    finally:
        policy.api.destroy_environment(data)


# -- the policy ---------------------------------------------------------------------------------------


def test_register_and_unregister() -> None:
    policy = Policy(GlobalStore())
    with pytest.raises(RuntimeError, match="not registered"):
        _ = policy.api
    policy.register()
    try:
        assert vs.has_policy()
        assert isinstance(policy.api, vs.EnvironmentPolicyAPI)
    finally:
        policy.unregister()
    assert not vs.has_policy()
    with pytest.raises(RuntimeError, match="not registered"):
        policy.new_environment()


def test_is_registered_and_the_default_store() -> None:
    policy = Policy()  # vsjetengine's signature: a GlobalStore when no store is given
    assert isinstance(policy.managed._store, GlobalStore)
    assert not policy.is_registered
    with policy:
        assert policy.is_registered
    assert not policy.is_registered


def test_only_one_policy_at_a_time(policy: Policy) -> None:
    with pytest.raises(RuntimeError):
        Policy(GlobalStore()).register()


def test_environments_have_their_own_cores(policy: Policy) -> None:
    with policy.new_environment() as first, policy.new_environment() as second:
        assert first.core is not second.core
        with first.use():
            vs.core.std.BlankClip(length=1).set_output(3)
        with second.use():
            assert vs.get_outputs() == {}
        assert list(first.outputs) == [3]
        assert second.outputs == {}


def test_use_switches_and_restores(policy: Policy) -> None:
    with policy.new_environment() as first, policy.new_environment() as second:
        with first.use():
            assert vs.core.core is first.core
            with second.use():
                assert vs.core.core is second.core
            assert vs.core.core is first.core
        assert policy.managed.get_current_environment() is None


def test_switch_stays(policy: Policy) -> None:
    with policy.new_environment() as env:
        env.switch()
        assert vs.core.core is env.core
        assert vs.get_current_environment().env_id == env.vs_environment.env_id


def test_disposed_environment_refuses_use(policy: Policy) -> None:
    env = policy.new_environment()
    env.dispose()
    assert env.disposed
    assert not env.vs_environment.alive
    for action in (env.use, env.inline_section):
        with pytest.raises(RuntimeError, match="disposed"), action():
            pass
    with pytest.raises(RuntimeError, match="disposed"):
        env.switch()
    with pytest.raises(RuntimeError, match="disposed"):
        _ = env.core


def test_outputs_stay_readable_after_dispose(policy: Policy) -> None:
    with policy.new_environment() as env, env.use():
        vs.core.std.BlankClip(length=2).set_output(0)
    assert isinstance(env.outputs[0], vs.VideoOutputTuple)
    assert env.outputs[0].clip.num_frames == 2


def test_garbage_collected_environment_warns_and_is_released(policy: Policy) -> None:
    env = policy.new_environment()
    destroyed = destroyed_event(env)
    with pytest.warns(ResourceWarning, match="without being disposed"):
        del env  # the last reference: collected at once
    assert destroyed.wait(WAIT)


def test_disposing_the_current_environment_resets_the_store(policy: Policy) -> None:
    env = policy.new_environment()
    env.switch()
    env.dispose()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert policy.managed.get_current_environment() is None
        with pytest.raises(RuntimeError, match="not running inside an environment"):
            vs.get_current_environment()


def test_stale_environment_of_another_task_warns_once() -> None:
    async def main(policy: Policy) -> list[str]:
        env = policy.new_environment()
        env.switch()  # current in this task's context; child tasks copy it
        stale: list[str] = []

        async def child(go: asyncio.Event) -> None:
            await go.wait()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert policy.managed.get_current_environment() is None
                assert policy.managed.get_current_environment() is None
            stale.extend(str(w.message) for w in caught)

        go = asyncio.Event()
        task = asyncio.create_task(child(go))
        await asyncio.sleep(0)
        env.dispose()  # resets this task's context only
        go.set()
        await task
        return stale

    with Policy(ContextVarStore()) as policy:
        messages = asyncio.run(main(policy))
    assert len(messages) == 1
    assert "has been disposed" in messages[0]


def test_dispose_is_idempotent_and_thread_safe(policy: Policy) -> None:
    env = policy.new_environment()
    destroyed = destroyed_event(env)
    calls: list[int] = []
    with env.inline_section():
        vs.register_on_destroy(lambda: calls.append(1))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def dispose() -> None:
        barrier.wait(WAIT)
        try:
            env.dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=dispose) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    env.dispose()
    assert errors == []
    assert destroyed.wait(WAIT)
    assert calls == [1]


# -- inline sections -----------------------------------------------------------------------------------


def test_inline_sections_are_reentrant(policy: Policy) -> None:
    with policy.new_environment() as outer, policy.new_environment() as inner:
        with outer.inline_section():
            assert vs.core.core is outer.core
            with inner.inline_section():
                assert vs.core.core is inner.core
                with outer.inline_section():
                    assert vs.core.core is outer.core
                assert vs.core.core is inner.core
            assert vs.core.core is outer.core  # the 1.x package lost the outer environment here
        assert policy.managed.get_current_environment() is None


def test_inline_sections_do_not_touch_the_store_or_other_threads(policy: Policy) -> None:
    with policy.new_environment() as env, policy.new_environment() as other:
        other.switch()
        with env.inline_section():
            assert vs.core.core is env.core
            seen: list[object] = []
            thread = threading.Thread(target=lambda: seen.append(vs.core.core))
            thread.start()
            thread.join(WAIT)
            assert seen == [other.core]
            with other.use():  # switching inside an inline section stays inside it
                assert vs.core.core is other.core
            assert vs.core.core is env.core
        assert vs.core.core is other.core


# -- delayed release ---------------------------------------------------------------------------------


def test_a_held_frame_survives_dispose(policy: Policy) -> None:
    env = policy.new_environment()
    destroyed = destroyed_event(env)
    with env.use():
        clip = vs.core.std.BlankClip(width=32, height=16, format=vs.GRAY8, color=[42], length=3)
        frame = clip.get_frame(1)
        del clip
    env.dispose()
    # A script reload must not free the core under a frame that is still on screen.
    assert not destroyed.is_set()
    assert frame[0][5, 5] == 42
    assert frame.props["_DurationNum"] == 1
    assert not destroyed.wait(0.05)
    del frame
    assert destroyed.wait(WAIT)


def test_a_held_node_survives_dispose(policy: Policy) -> None:
    env = policy.new_environment()
    destroyed = destroyed_event(env)
    with env.use():
        clip = vs.core.std.BlankClip(width=8, height=8, format=vs.GRAY8, color=[7], length=3)
    env.dispose()
    assert clip.get_frame(2)[0][0, 0] == 7
    assert not destroyed.is_set()
    del clip
    assert destroyed.wait(WAIT)


def test_waiting_until_every_disposed_core_is_released(policy: Policy) -> None:
    """`release_queue.wait_until_empty` (what the stress tests wait on) is False while a disposed
    core is still held and True once it has been released."""
    env = policy.new_environment()
    destroyed = destroyed_event(env)
    with env.use():
        clip = vs.core.std.BlankClip(width=8, height=8, format=vs.GRAY8, length=3)
    env.dispose()
    assert len(release_queue) == 1  # the node keeps the core
    assert not release_queue.wait_until_empty(0)
    del clip
    assert release_queue.wait_until_empty(WAIT)
    assert destroyed.is_set()
    assert len(release_queue) == 0


def test_an_unreferenced_core_is_released(policy: Policy) -> None:
    env = policy.new_environment()
    destroyed = destroyed_event(env)
    with env.use():
        vs.core.std.BlankClip().get_frame(0)
    env.dispose()
    # At once, or as soon as VapourSynth's worker threads have let go of the (temporary) node.
    assert destroyed.wait(WAIT)


def test_a_release_in_the_background_leaves_the_current_environment_alone() -> None:
    """VapourSynth runs a core's on-destroy callbacks in the environment being destroyed, on the
    release thread: with a GlobalStore the switch must stay on that thread, or the application's
    thread finds a disposed environment current (vs-preview's reload failed so, in 1 of 3 runs)."""
    with Policy(GlobalStore()) as policy:
        current = policy.new_environment()
        current.switch()
        gone = policy.new_environment()
        inside, leave = threading.Event(), threading.Event()

        def on_destroy() -> None:
            inside.set()
            leave.wait(WAIT)

        with gone.inline_section():
            vs.register_on_destroy(on_destroy)
            clip = vs.core.std.BlankClip(length=1)
        gone.dispose()  # the clip holds the core: the release thread destroys it later
        del clip
        assert inside.wait(WAIT)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert vs.core.core is current.core
        finally:
            leave.set()
        current.dispose()


def test_unregister_releases_pending_environments(caplog: pytest.LogCaptureFixture) -> None:
    with Policy(GlobalStore()) as policy:
        env = policy.new_environment()
        destroyed = destroyed_event(env)
        with env.use():
            frame = vs.core.std.BlankClip(length=1).get_frame(0)
        env.dispose()
        assert not destroyed.is_set()
        with caplog.at_level(logging.WARNING, logger="vsengine.policy"):
            policy.unregister()
            policy.register()  # so that the context manager can unregister again
    assert destroyed.is_set()
    assert "frames" in caplog.text
    with pytest.raises(RuntimeError, match="released"):
        _ = frame.props


def test_unregister_destroys_the_environments_left_alive() -> None:
    with Policy(GlobalStore()) as policy:
        env = policy.new_environment()
        destroyed = destroyed_event(env)
        with env.use():
            clip = vs.core.std.BlankClip(length=3)
            clip.set_output(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "collected without destroy_environment"
            policy.unregister()
        assert destroyed.is_set()  # through destroy_environment, with its lifecycle callbacks
        assert env.disposed
        assert env.outputs[0].clip is clip  # what it had, as after dispose()
        with pytest.raises(RuntimeError, match="its Policy was unregistered"):
            _ = env.core
        assert not vs.has_policy()  # nothing registered VapourSynth's standalone policy
        env.dispose()  # still idempotent
        policy.register()  # so that the context manager can unregister again
        with policy.new_environment() as fresh, fresh.use():
            assert vs.core.std.BlankClip(length=1).num_frames == 1


# -- logging and creation flags ---------------------------------------------------------------------


def test_log_messages_go_to_the_vapoursynth_logger_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    with (
        Policy(GlobalStore(), logger=True) as policy,
        policy.new_environment() as env,
        env.use(),
        caplog.at_level(logging.DEBUG, logger="vapoursynth"),
    ):
        vs.core.log_message(vs.MESSAGE_TYPE_WARNING, "a warning 100%")
        line = sys._getframe().f_lineno - 1
        vs.core.log_message(vs.MESSAGE_TYPE_INFORMATION, "some information")
        vs.core.log_message(vs.MESSAGE_TYPE_CRITICAL, "critical")
    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        ("vapoursynth", logging.WARNING, "a warning 100%"),
        ("vapoursynth", logging.INFO, "some information"),
        ("vapoursynth", logging.ERROR, "critical"),
    ]
    # The record names the code that logged, not vsengine.
    assert (caplog.records[0].filename, caplog.records[0].lineno) == (os.path.basename(__file__), line)


def test_log_messages_are_not_routed_by_default(policy: Policy, caplog: pytest.LogCaptureFixture) -> None:
    with policy.new_environment() as env, env.use(), caplog.at_level(logging.DEBUG):
        vs.core.log_message(vs.MESSAGE_TYPE_WARNING, "nobody asked for this")
    assert not [r for r in caplog.records if "nobody asked" in r.getMessage()]


def test_log_handler_per_environment(caplog: pytest.LogCaptureFixture) -> None:
    received: list[tuple[int, str]] = []
    with Policy(GlobalStore(), logger=lambda kind, message: received.append((kind, message))) as policy:
        with policy.new_environment() as inherited, inherited.use():
            vs.core.log_message(vs.MESSAGE_TYPE_WARNING, "to the policy's handler")
        with policy.new_environment(logger=False) as silent, silent.use():
            vs.core.log_message(vs.MESSAGE_TYPE_WARNING, "to nobody")
        with policy.new_environment(logger=True) as logged, logged.use(), caplog.at_level(logging.INFO):
            vs.core.log_message(vs.MESSAGE_TYPE_INFORMATION, "to logging")
    assert received == [(int(vs.MESSAGE_TYPE_WARNING), "to the policy's handler")]
    assert [(r.name, r.getMessage()) for r in caplog.records if r.name == "vapoursynth"] == [
        ("vapoursynth", "to logging")
    ]


def test_environments_leave_no_logger_behind() -> None:
    """Issue 13 item 9: each environment used to create a logging.Logger that lived forever."""
    loggers = logging.Logger.manager.loggerDict
    with Policy(GlobalStore(), logger=True) as policy:
        with policy.new_environment():  # the first one may create the "vapoursynth" logger
            pass
        before = set(loggers)
        for _ in range(50):
            with policy.new_environment() as env, env.use():
                vs.core.log_message(vs.MESSAGE_TYPE_DEBUG, "hello")
    assert set(loggers) == before


def test_creation_flags_per_environment() -> None:
    with Policy(GlobalStore(), flags_creation=vs.ENABLE_GRAPH_INSPECTION) as policy:
        with policy.new_environment() as inherited:
            assert inherited.core.flags & vs.ENABLE_GRAPH_INSPECTION
        with policy.new_environment(flags_creation=0) as overridden:
            assert not overridden.core.flags & vs.ENABLE_GRAPH_INSPECTION


def test_creation_flags_override_a_plain_policy(policy: Policy) -> None:
    with policy.new_environment(vs.ENABLE_GRAPH_INSPECTION) as env:  # positional, as in vsjetengine
        assert env.core.flags & vs.ENABLE_GRAPH_INSPECTION
    with policy.new_environment() as env:
        assert not env.core.flags & vs.ENABLE_GRAPH_INSPECTION


# -- stores in practice -------------------------------------------------------------------------------


def test_thread_local_store_gives_each_thread_its_environment() -> None:
    with Policy(ThreadLocalStore()) as policy:
        barrier = threading.Barrier(2)
        results: dict[str, bool] = {}

        def worker(name: str) -> None:
            with policy.new_environment() as env, env.use():
                barrier.wait(WAIT)  # both environments are current at the same time
                results[name] = vs.core.core is env.core
                barrier.wait(WAIT)

        threads = [threading.Thread(target=worker, args=(name,)) for name in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    assert results == {"a": True, "b": True}


def test_context_var_store_follows_tasks() -> None:
    async def worker(policy: Policy) -> bool:
        with policy.new_environment() as env, env.use():
            await asyncio.sleep(0.01)
            return vs.core.core is env.core

    async def main(policy: Policy) -> list[bool]:
        return list(await asyncio.gather(*(worker(policy) for _ in range(3))))

    with Policy(ContextVarStore()) as policy:
        assert asyncio.run(main(policy)) == [True, True, True]


def test_a_custom_store_receives_what_vsjetengine_hands_it() -> None:
    class RecordingStore(EnvironmentStore):
        def __init__(self) -> None:
            self.received: list[object] = []
            self.current: weakref.ReferenceType[vs.EnvironmentData] | None = None

        def set_current_environment(
            self, environment: weakref.ReferenceType[vs.EnvironmentData] | None
        ) -> None:
            self.received.append(environment)
            self.current = environment

        def get_current_environment(self) -> weakref.ReferenceType[vs.EnvironmentData] | None:
            return self.current

    store = RecordingStore()
    with Policy(store) as policy, policy.new_environment() as env:
        with env.use():
            assert vs.core.core is env.core
        # A weak reference to the environment's data going in, None coming out: the store never
        # keeps an environment alive.
        assert len(store.received) == 2
        entered, left = store.received
        assert isinstance(entered, weakref.ReferenceType)
        assert entered() is env._data
        assert left is None


def test_a_store_can_be_a_qobject() -> None:
    qt_core = pytest.importorskip("PySide6.QtCore", exc_type=ImportError)

    class WidgetStore(qt_core.QObject, EnvironmentStore):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.current: vs.EnvironmentData | None = None

        def set_current_environment(self, environment: vs.EnvironmentData | None) -> None:
            self.current = environment

        def get_current_environment(self) -> vs.EnvironmentData | None:
            return self.current

    with Policy(WidgetStore()) as policy, policy.new_environment() as env, env.use():
        assert vs.core.core is env.core


EXIT_PROGRAM = """
import atexit
import vapoursynth as vs
from vsengine.policy import GlobalStore, Policy

policy = Policy(GlobalStore())
policy.register()
env = policy.new_environment()
with env.use():
    frame = vs.core.std.BlankClip(length=1).get_frame(0)


def dispose():
    env.dispose()  # the frame is still held: its core cannot be released yet
    print("disposed", flush=True)


if WHEN == "at exit":
    atexit.register(dispose)
else:
    dispose()
"""


@pytest.mark.parametrize("when", ["at exit", "before exit"])
def test_an_application_exits_cleanly_with_a_disposed_core_still_in_use(when: str) -> None:
    """The delayed release at exit: vs-preview disposes its environment from an atexit handler (no
    thread can start then), and a frame kept in a global keeps a disposed core in use until the end."""
    program = f"WHEN = {when!r}\n" + EXIT_PROGRAM
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "disposed\n", "")
