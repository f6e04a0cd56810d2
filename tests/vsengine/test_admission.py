"""Single frame requests (``frame``, ``planes``) are admitted to VapourSynth a few at a time.

What a user relies on: requesting a whole clip at once (``gather`` over ``frame`` calls) can still
be withdrawn. Cancelled requests are never rendered, disposing the environment or unregistering
the policy fails the requests VapourSynth has not started (and does not wait for them), and the
requests that VapourSynth did start still deliver their frames.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING, Any, cast

import pytest
import vapoursynth as vs
from _helpers import core, numbered_clip

from vsengine._admission import PER_THREAD
from vsengine.policy import ContextVarStore, ManagedEnvironment, Policy
from vsengine.video import frame, planes

if TYPE_CHECKING:
    from collections.abc import Callable

REQUESTS = 40


@pytest.fixture
def env(env: ManagedEnvironment) -> ManagedEnvironment:
    """conftest's environment, with one VapourSynth thread: two requests admitted at a time."""
    with env.use():
        core().num_threads = 1
    return env


class Recorder:
    """A clip that records which frames VapourSynth renders; frame 0 waits until `release`."""

    def __init__(self, env: ManagedEnvironment) -> None:
        self.rendered: list[int] = []
        self.reached = threading.Event()
        self.release = threading.Event()
        with env.use():
            self.base = numbered_clip(REQUESTS)
            self.clip = cast("vs.VideoNode", core().std.FrameEval(self.base, self._eval))

    def _eval(self, n: int) -> vs.VideoNode:
        self.rendered.append(n)
        if n == 0:
            self.reached.set()
            if not self.release.wait(20):
                raise RuntimeError("frame 0 was never released")
        return self.base


def request_all(
    recorder: Recorder, env: ManagedEnvironment, function: Callable[..., Future[Any]] = frame
) -> list[Future[Any]]:
    futures = [function(recorder.clip, n, env) for n in range(REQUESTS)]
    assert recorder.reached.wait(10)
    return futures


def settle(futures: list[Future[Any]]) -> None:
    """Wait until every future is done, then close the frames they hold."""
    _, pending = wait(futures, timeout=20)
    assert not pending
    for fut in futures:
        if not fut.cancelled() and fut.exception() is None and isinstance(fut.result(), vs.VideoFrame):
            fut.result().close()


def test_cancelled_requests_are_never_rendered(env: ManagedEnvironment) -> None:
    recorder = Recorder(env)
    futures = request_all(recorder, env)
    admitted = PER_THREAD * 1
    for fut in futures[admitted:]:
        assert fut.cancel()
    recorder.release.set()
    settle(futures[:admitted])
    # A later request is admitted only once the cancelled ones have left the queue.
    with frame(recorder.clip, REQUESTS - 1, env).result(timeout=10):
        pass
    assert sorted(recorder.rendered) == [*range(admitted), REQUESTS - 1]


@pytest.mark.parametrize("function", [frame, planes], ids=["frame", "planes"])
def test_disposing_the_environment_withdraws_what_vapoursynth_has_not_started(
    policy: Policy, function: Callable[..., Future[Any]]
) -> None:
    env = policy.new_environment()
    with env.use():
        core().num_threads = 1
    recorder = Recorder(env)
    futures = request_all(recorder, env, function)
    admitted = PER_THREAD * 1
    env.dispose()  # returns at once: frame 0 is still being rendered
    assert not any(fut.done() for fut in futures[:admitted])
    for n, fut in enumerate(futures[admitted:], admitted):
        error = fut.exception(timeout=0)
        assert isinstance(error, RuntimeError)
        assert str(error) == (
            f"vsengine.video.{function.__name__}(): frame {n} was withdrawn before VapourSynth started "
            f"rendering it: its environment ({repr(env).split()[1]}) has been disposed"
        )
    recorder.release.set()
    settle(futures)
    # The admitted requests still delivered their frames.
    assert all(fut.exception() is None for fut in futures[:admitted])
    assert sorted(recorder.rendered) == list(range(admitted))


def test_unregistering_the_policy_withdraws_what_vapoursynth_has_not_started() -> None:
    policy = Policy(ContextVarStore())
    policy.register()
    env = policy.new_environment()
    with env.use():
        core().num_threads = 1
    recorder = Recorder(env)
    futures = request_all(recorder, env)
    # Unregistering waits for the requests VapourSynth started: let frame 0 finish soon.
    threading.Timer(0.2, recorder.release.set).start()
    policy.unregister()
    withdrawn = futures[PER_THREAD:]
    assert all(isinstance(fut.exception(timeout=0), RuntimeError) for fut in withdrawn)
    assert "its Policy was unregistered" in str(withdrawn[0].exception())
    settle(futures)
    assert sorted(recorder.rendered) == list(range(PER_THREAD))


def test_every_queued_request_gets_its_own_frame(env: ManagedEnvironment) -> None:
    recorder = Recorder(env)
    futures = request_all(recorder, env)
    recorder.release.set()
    assert [bytes(fut.result(timeout=20)[0])[0] for fut in futures] == list(range(REQUESTS))
    settle(futures)
    assert sorted(recorder.rendered) == list(range(REQUESTS))


def test_more_threads_admit_more_requests(env: ManagedEnvironment) -> None:
    recorder = Recorder(env)
    futures = request_all(recorder, env)
    with env.use():
        core().num_threads = 2
    # The next request finds the environment full, looks at the thread count again and is admitted.
    # (Of another node: FrameEval renders one frame at a time, and frame 0 holds it.)
    with frame(recorder.base, 1, env).result(timeout=10) as late:
        assert bytes(late[0])[0] == 1
    recorder.release.set()
    settle(futures)
