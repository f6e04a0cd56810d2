"""Bad input to vsengine's public entry points: wrong types and wrong states give a clear exception
that names the problem, and leave nothing behind (no policy registered, no environment or module
left over, the environment still usable).

Each case has an id that docs/reliability.md lists in its table (a test checks both agree).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs

from vsengine import video, vpy
from vsengine.loops import from_thread, set_loop, to_thread
from vsengine.policy import GlobalStore, ManagedEnvironment, Policy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DOC = Path(__file__).parents[2] / "docs" / "reliability.md"


@pytest.fixture
def clips(env: ManagedEnvironment) -> Iterator[dict[str, Any]]:
    made = {
        "video": vs.core.std.BlankClip(width=16, height=16, format=vs.YUV420P8, length=10),
        "audio": vs.core.std.BlankAudio(length=100),
        "rgb": vs.core.std.BlankClip(format=vs.RGB24, length=1),
        "float": vs.core.std.BlankClip(format=vs.YUV444PS, length=1),
    }
    yield made
    made.clear()


def _disposed(policy: Policy) -> ManagedEnvironment:
    gone = policy.new_environment()
    gone.dispose()
    return gone


#: (id, call(policy, env, clips), exception type, phrase of the message)
CASES: list[tuple[str, Callable[[Policy, ManagedEnvironment, dict[str, Any]], object], type, str]] = [
    (
        "core-policy-new-env-unregistered",
        lambda p, e, c: Policy(GlobalStore()).new_environment(),
        RuntimeError,
        "not registered",
    ),
    (
        "core-policy-api-unregistered",
        lambda p, e, c: Policy(GlobalStore()).api,
        RuntimeError,
        "not registered",
    ),
    (
        "core-policy-unregister-twice",
        lambda p, e, c: Policy(GlobalStore()).unregister(),
        RuntimeError,
        "not registered",
    ),
    (
        "core-policy-register-second",
        lambda p, e, c: Policy(GlobalStore()).register(),
        RuntimeError,
        "already a policy registered",
    ),
    (
        "core-env-use-disposed",
        lambda p, e, c: _disposed(p).use().__enter__(),
        RuntimeError,
        "has been disposed",
    ),
    ("core-env-core-disposed", lambda p, e, c: _disposed(p).core, RuntimeError, "has been disposed"),
    ("core-env-switch-disposed", lambda p, e, c: _disposed(p).switch(), RuntimeError, "has been disposed"),
    (
        "core-env-inline-disposed",
        lambda p, e, c: _disposed(p).inline_section().__enter__(),
        RuntimeError,
        "has been disposed",
    ),
    (
        "core-frame-out-of-range",
        lambda p, e, c: video.frame(c["video"], 10, e),
        IndexError,
        "frame 10 is out of range: the clip has 10 frames",
    ),
    ("core-frame-negative", lambda p, e, c: video.frame(c["video"], -1, e), IndexError, "out of range"),
    (
        "core-frame-number-type",
        lambda p, e, c: video.frame(c["video"], "1", e),
        TypeError,
        "frame number must be an int, got str",
    ),
    (
        "core-frame-audio",
        lambda p, e, c: video.frame(c["audio"], 0, e),
        TypeError,
        "needs a video node, got an audio",
    ),
    (
        "core-frames-audio",
        lambda p, e, c: video.frames(c["audio"], e),
        TypeError,
        "needs a video node, got an audio",
    ),
    (
        "core-render-audio",
        lambda p, e, c: video.render(c["audio"], e),
        TypeError,
        "needs a video node, got an audio",
    ),
    ("core-planes-audio", lambda p, e, c: video.planes(c["audio"], 0, e), TypeError, "needs a video node"),
    (
        "core-frame-not-a-node",
        lambda p, e, c: video.frame("clip", 0, e),
        TypeError,
        "needs a vapoursynth.VideoNode",
    ),
    (
        "core-planes-out-of-range",
        lambda p, e, c: video.planes(c["video"], 0, e, planes=[3]),
        IndexError,
        "plane 3 is out of range",
    ),
    (
        "core-video-disposed-env",
        lambda p, e, c: video.frame(c["video"], 0, _disposed(p)),
        RuntimeError,
        "already disposed",
    ),
    ("core-render-y4m-rgb", lambda p, e, c: video.render(c["rgb"], e, y4m=True), ValueError, "an RGB format"),
    (
        "core-render-y4m-float",
        lambda p, e, c: video.render(c["float"], e, y4m=True),
        ValueError,
        "a floating-point format",
    ),
    (
        "core-load-script-missing",
        lambda p, e, c: vpy.load_script("/nonexistent/x.vpy", e).result(),
        FileNotFoundError,
        "script not found",
    ),
    (
        "core-load-script-directory",
        lambda p, e, c: vpy.load_script(Path(__file__).parent, e).result(),
        IsADirectoryError,
        "script is a directory",
    ),
    (
        "core-load-code-syntax",
        lambda p, e, c: vpy.load_code("x = (\n", e).result(),
        vpy.ExecutionError,
        "line 1: SyntaxError",
    ),
    (
        "core-load-code-raises",
        lambda p, e, c: vpy.load_code("raise ValueError('boom')", e).result(),
        vpy.ExecutionError,
        "ValueError: boom",
    ),
    (
        "core-load-code-system-exit",
        lambda p, e, c: vpy.load_code("raise SystemExit(3)", e).result(),
        vpy.ExecutionError,
        "SystemExit: 3",
    ),
    (
        "core-load-code-disposed-env",
        lambda p, e, c: vpy.load_code("x = 1", _disposed(p)).result(),
        vpy.ExecutionError,
        "RuntimeError: <ManagedEnvironment #",
    ),
    (
        "core-load-code-module-type",
        lambda p, e, c: vpy.load_code("x = 1", e, module=42),  # type: ignore[call-overload]
        TypeError,
        "vsengine.vpy.load_code(): module must be a module name (str) or a types.ModuleType, got int",
    ),
    (
        "core-policy-store-class",
        lambda p, e, c: Policy(GlobalStore),  # type: ignore[arg-type]
        TypeError,
        "store must be an EnvironmentStore instance, got the class GlobalStore; "
        "create one: Policy(GlobalStore())",
    ),
    (
        "core-policy-flags-type",
        lambda p, e, c: Policy(flags_creation="x"),  # type: ignore[arg-type]
        TypeError,
        "Policy(flags_creation=...): flags_creation must be an int made of vapoursynth.CoreCreationFlags",
    ),
    (
        "core-new-env-flags-type",
        lambda p, e, c: p.new_environment(flags_creation="x"),  # type: ignore[arg-type]
        TypeError,
        "new_environment(flags_creation=...): flags_creation must be an int",
    ),
    (
        "core-policy-logger-type",
        lambda p, e, c: Policy(logger=3),  # type: ignore[arg-type]
        TypeError,
        "Policy(logger=...): logger must be True (log to the 'vapoursynth' logger), False (no logging) "
        "or a function",
    ),
    (
        "core-planes-str",
        lambda p, e, c: video.planes(c["video"], 0, e, planes="0"),
        TypeError,
        "planes must be an iterable of plane indices such as [0] or (0, 1, 2), got str '0'",
    ),
    (
        "core-planes-int",
        lambda p, e, c: video.planes(c["video"], 0, e, planes=5),  # type: ignore[arg-type]
        TypeError,
        "planes must be an iterable of plane indices such as [0] or (0, 1, 2), got int 5",
    ),
    (
        "core-planes-float",
        lambda p, e, c: video.planes(c["video"], 0, e, planes=[0.5]),  # type: ignore[list-item]
        TypeError,
        "plane indices must be ints, got float 0.5",
    ),
    ("core-set-loop-type", lambda p, e, c: set_loop("loop"), TypeError, "needs an event loop"),  # type: ignore[arg-type]
    (
        "core-from-thread-not-callable",
        lambda p, e, c: from_thread(42).result(),
        TypeError,
        "must be callable",
    ),  # type: ignore[arg-type]
    ("core-to-thread-not-callable", lambda p, e, c: to_thread(42).result(), TypeError, "must be callable"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "error", "phrase"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input_is_a_clear_error_and_leaves_nothing_behind(
    policy: Policy,
    env: ManagedEnvironment,
    clips: dict[str, Any],
    call: Callable[[Policy, ManagedEnvironment, dict[str, Any]], object],
    error: type[BaseException],
    phrase: str,
) -> None:
    modules = set(sys.modules)
    with pytest.raises(error, match=re.escape(phrase)):
        call(policy, env, clips)
    # Nothing left behind: the environment still renders, no script module lingers, the
    # registered policy is still ours.
    assert not env.disposed
    assert video.frame(clips["video"], 0, env).result().width == 16
    assert not {m for m in set(sys.modules) - modules if m.startswith("__vapoursynth")}
    assert policy.api is not None


def test_script_syntax_error_names_the_file_and_line(env: ManagedEnvironment, tmp_path: Path) -> None:
    """core-load-script-syntax"""
    script = tmp_path / "broken.vpy"
    script.write_text("import vapoursynth as vs\nclip = (\n")
    with pytest.raises(vpy.ExecutionError, match=re.escape(f"script {script}, line 2: SyntaxError")):
        vpy.load_script(script, env).result()
    with env.use():
        assert vs.core.std.BlankClip(length=1).num_frames == 1  # the environment still works


def _child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )


def test_environment_of_an_unregistered_policy() -> None:
    """core-env-policy-unregistered (in a child: the bug poisons the process)."""
    result = _child(
        """
        import vapoursynth as vs
        from vsengine.policy import GlobalStore, Policy
        policy = Policy(GlobalStore())
        policy.register()
        env = policy.new_environment()
        policy.unregister()
        try:
            with env.use():
                pass
        except RuntimeError as error:
            print("error:", error)
        print("disposed:", env.disposed, "policy registered:", vs.has_policy())
        """
    )
    assert result.returncode == 0, result.stderr
    assert "error:" in result.stdout
    assert "unregistered" in result.stdout
    assert "disposed: True policy registered: False" in result.stdout


def test_env_of_the_wrong_type(env: ManagedEnvironment, clips: dict[str, Any]) -> None:
    """core-video-env-type"""
    with pytest.raises(TypeError, match="env"):
        video.frame(clips["video"], 0, "env")  # type: ignore[arg-type]


@pytest.mark.parametrize("function", [video.frames, video.render])
@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [("prefetch", "4", TypeError), ("prefetch", -1, ValueError), ("backlog", "x", TypeError)],
)
def test_prefetch_of_the_wrong_type_or_value(
    env: ManagedEnvironment, clips: dict[str, Any], function: Any, argument: str, value: Any, error: type
) -> None:
    """core-frames-prefetch"""
    with pytest.raises(error, match=argument):
        function(clips["video"], env, **{argument: value})


def test_load_code_of_the_wrong_type(env: ManagedEnvironment) -> None:
    """core-load-code-type"""
    with pytest.raises(TypeError, match="script must be source code"):
        vpy.load_code(42, env)  # type: ignore[call-overload]


def test_policy_with_a_store_of_the_wrong_type() -> None:
    """core-policy-store-type"""
    with pytest.raises(TypeError, match=r"store must be a vsengine\.policy\.EnvironmentStore"):
        Policy(42)  # type: ignore[arg-type]


def test_register_after_the_standalone_policy_says_where_it_came_from() -> None:
    """core-policy-register-standalone (in a child: the standalone policy stays for good)."""
    result = _child(
        """
        from vsengine.policy import Policy
        from vsengine.vpy import load_code

        script = load_code("x = 1")
        script.result()
        try:
            Policy().register()
        except RuntimeError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "There is already a policy registered. VapourSynth's standalone policy is active since "
        "vsengine.vpy.load_code() was called with no policy registered (<string>, line 5); "
        "it can never be unregistered. Register your Policy before anything uses VapourSynth"
    ), result.stdout


def test_register_after_vapoursynth_core_was_used() -> None:
    """core-policy-register-after-core"""
    result = _child(
        """
        import vapoursynth as vs
        from vsengine.policy import Policy

        vs.core.std.BlankClip()
        try:
            Policy().register()
        except RuntimeError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert (
        "VapourSynth's standalone policy is active since something used vapoursynth.core (or asked "
        "VapourSynth for the current environment) while no policy was registered" in result.stdout
    ), result.stdout


def test_every_case_is_in_the_reliability_table() -> None:
    table = DOC.read_text()
    ids = [c[0] for c in CASES] + re.findall(r'"""(core-[a-z0-9-]+)', Path(__file__).read_text())
    missing = [i for i in ids if f"`{i}`" not in table]
    assert not missing, f"docs/reliability.md lacks rows for {missing}"
    assert len(ids) == len(set(ids))
