"""Shared fixtures of the vsengine tests.

Every test that touches VapourSynth does it through a registered :class:`vsengine.policy.Policy`:
VapourSynth registers its own standalone policy the first time ``vs.core`` is used without one,
and that policy can never be unregistered again (every later ``Policy.register()`` would fail).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import pytest
import vapoursynth as vs

from vsengine.loops import NO_LOOP, get_loop, set_loop
from vsengine.policy import GlobalStore, ManagedEnvironment, Policy

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _reset_event_loop() -> Iterator[None]:
    """Every test starts with the no-loop default (some examples leave their loop attached)."""
    set_loop(NO_LOOP)
    yield
    if get_loop() is not NO_LOOP:
        set_loop(NO_LOOP)


@pytest.fixture(autouse=True)
def _no_policy_left_behind() -> Iterator[None]:
    """A test must not leave a VapourSynth policy registered: every later test would break."""
    had_policy = vs.has_policy()
    yield
    if not had_policy and vs.has_policy():
        pytest.fail(
            "This test left a VapourSynth policy registered. Using vs.core without a registered "
            "vsengine Policy registers VapourSynth's standalone policy, which can never be removed; "
            "use the `env` fixture instead."
        )


@pytest.fixture
def policy() -> Iterator[Policy]:
    """A registered policy with a global store (unregistered after the test)."""
    with Policy(GlobalStore()) as registered:
        yield registered
    gc.collect()  # surface ResourceWarnings of environments this test forgot to dispose


@pytest.fixture
def env(policy: Policy) -> Iterator[ManagedEnvironment]:
    """A fresh environment of ``policy``, current during the test, disposed afterwards."""
    with policy.new_environment() as environment, environment.use():
        yield environment


@pytest.fixture
def clip(env: ManagedEnvironment) -> vs.VideoNode:
    """A small YUV clip whose frame n has the property ``n``."""
    blank = env.core.std.BlankClip(width=64, height=48, format=vs.YUV420P8, length=30, color=[16, 128, 128])
    return blank.std.ModifyFrame(blank, _number_frame)


def _number_frame(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    out.props["n"] = n
    return out
