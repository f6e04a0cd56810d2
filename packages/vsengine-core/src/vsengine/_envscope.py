"""Entering the environment a frame helper was asked to work in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import vapoursynth as vs

from vsengine.policy import ManagedEnvironment, current_environment

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["EnvironmentTypes", "capture_environment", "environment_data", "use_environment"]

#: What the frame helpers and script loaders accept as ``env=``.
type EnvironmentTypes = vs.Environment | ManagedEnvironment


def capture_environment(function_name: str, env: EnvironmentTypes | None) -> EnvironmentTypes:
    """Returns `env`, or the environment active right now when `env` is None.

    The result can be entered later from any thread (VapourSynth's callback threads included)
    with `use_environment`.
    """
    if env is not None:
        if not isinstance(env, ManagedEnvironment | vs.Environment):
            raise TypeError(
                f"{function_name}: env must be a vsengine.policy.ManagedEnvironment, a "
                f"vapoursynth.Environment or None, got {type(env).__name__}"
            )
        if env.disposed if isinstance(env, ManagedEnvironment) else not env.alive:
            raise RuntimeError(f"{function_name}: the environment passed as env= is already disposed")
        return env
    try:
        current = current_environment(function_name)
    except RuntimeError:  # VapourSynth's answer when no environment is current
        current = None
    if current is None:
        raise RuntimeError(
            f"{function_name}: no VapourSynth environment is active here; "
            "enter one (`with env.use():`) or pass it as env="
        )
    if not current.alive:
        raise RuntimeError(f"{function_name}: the active VapourSynth environment has already been disposed")
    return current


def use_environment(env: EnvironmentTypes) -> AbstractContextManager[None]:
    """Makes `env` the current environment inside the block (cheaply for managed environments).

    Called for every frame request: it hands out the environment's own context manager rather
    than wrapping it in another one.
    """
    if isinstance(env, ManagedEnvironment):
        return env.inline_section()
    return env.use()


def environment_data(env: EnvironmentTypes) -> vs.EnvironmentData | None:
    """VapourSynth's ``EnvironmentData`` of `env` (None once it is disposed or gone)."""
    if isinstance(env, ManagedEnvironment):
        return env._data
    return env.env()
