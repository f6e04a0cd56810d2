"""vsengine.vpy: loading and running scripts in environments."""

from __future__ import annotations

import ast
import asyncio
import gc
import os
import sys
import threading
import types
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import pytest
import vapoursynth as vs
from _helpers import ADAPTERS, run_under

from vsengine.policy import ContextVarStore, ManagedEnvironment, Policy
from vsengine.vpy import (
    ExecutionError,
    ExecutionFailed,
    Script,
    WrapAllErrors,
    chdir_runner,
    inline_runner,
    load_code,
    load_script,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def policy() -> Iterator[Policy]:
    with Policy(ContextVarStore()) as p:
        yield p


@pytest.fixture
def env(policy: Policy) -> Iterator[ManagedEnvironment]:
    with policy.new_environment() as e:
        yield e


def output_clip(env: ManagedEnvironment, index: int = 0) -> vs.VideoNode:
    output = env.outputs[index]
    assert isinstance(output, vs.VideoOutputTuple)
    return output.clip


def write(path: Path, source: str) -> Path:
    path.write_text(source, encoding="utf-8")
    return path


BLANK = """
import vapoursynth as vs
clip = vs.core.std.BlankClip(width=64, height=32, length=7)
clip.set_output(0)
"""


# -- running -----------------------------------------------------------------------------------------


def test_load_script_runs_in_the_environment(tmp_path: Path, env: ManagedEnvironment) -> None:
    script = load_script(write(tmp_path / "blank.vpy", BLANK), env)
    assert env.outputs == {}  # nothing runs before it is asked to
    script.result()
    assert output_clip(env).num_frames == 7
    clip = script.get_variable("clip").result()
    assert isinstance(clip, vs.VideoNode)
    assert script.get_variable("missing", 42).result() == 42


def test_load_script_with_a_policy_owns_its_environment(tmp_path: Path, policy: Policy) -> None:
    with load_script(write(tmp_path / "blank.vpy", BLANK), policy) as script:
        env = script.environment
        assert isinstance(env, ManagedEnvironment)
        assert output_clip(env).width == 64
    assert env.disposed


def test_load_script_with_a_vapoursynth_environment(tmp_path: Path, env: ManagedEnvironment) -> None:
    script = load_script(write(tmp_path / "blank.vpy", BLANK), env.vs_environment)
    script.result()
    assert output_clip(env).height == 32
    script.dispose()
    assert not env.disposed  # a plain vapoursynth.Environment is not the script's to dispose


def test_load_script_in_the_current_environment(tmp_path: Path, env: ManagedEnvironment) -> None:
    with env.use():
        script = load_script(write(tmp_path / "blank.vpy", BLANK))
    script.result()
    assert 0 in env.outputs


def test_a_script_can_reuse_the_module_of_another(tmp_path: Path, env: ManagedEnvironment) -> None:
    first = load_script(write(tmp_path / "first.vpy", "base = 20\n"), env)
    first.result()
    second = load_code("total = base + 22\n", first)
    second.result()
    assert second.get_variable("total").result() == 42
    assert second.environment is env
    assert second.module is first.module


def test_load_code_accepts_text_bytes_and_code(env: ManagedEnvironment) -> None:
    assert load_code("x = 1", env).run().result() is None
    for code in ("x = 'text'", b"x = 'bytes'", compile("x = 'code'", "<mine>", "exec")):
        script = load_code(code, env)
        script.result()
        assert script.get_variable("x").result() in {"text", "bytes", "code"}


def test_custom_module(env: ManagedEnvironment) -> None:
    module = types.ModuleType("my_module")
    load_code("answer = 42", env, module=module).result()
    assert module.answer == 42
    named = load_code("answer = __name__", env, module="named_module")
    named.result()
    assert named.get_variable("answer").result() == "named_module"


def test_a_script_runs_once(env: ManagedEnvironment) -> None:
    script = load_code("runs.append(1)", env)
    runs: list[int] = []
    script.module.__dict__["runs"] = runs
    script.result()
    script.result()
    assert script.run() is script.run()
    assert runs == [1]


def test_chdir(tmp_path: Path, env: ManagedEnvironment) -> None:
    before = os.getcwd()
    script = load_code("import os\ncwd = os.getcwd()", env, chdir=tmp_path)
    script.result()
    assert script.get_variable("cwd").result() == str(tmp_path)
    assert os.getcwd() == before


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_await_a_script(tmp_path: Path, env: ManagedEnvironment, adapter: str) -> None:
    path = write(tmp_path / "thread.vpy", BLANK + "import threading\nthread = threading.get_ident()\n")

    async def body() -> tuple[Any, Any]:
        inline = load_script(path, env)
        await inline
        threaded = load_code("import threading\nthread = threading.get_ident()\n", env, inline=False)
        await threaded
        return await inline.get_variable("thread"), await threaded.get_variable("thread")

    inline_thread, worker_thread = run_under(adapter, body)
    assert inline_thread == threading.get_ident()
    assert worker_thread != threading.get_ident()
    assert 0 in env.outputs


def test_inline_false_without_an_event_loop(env: ManagedEnvironment) -> None:
    script = load_code("import threading\nthread = threading.get_ident()", env, inline=False)
    script.run().result(timeout=10)
    assert script.get_variable("thread").result() != threading.get_ident()


# -- what a script sees ------------------------------------------------------------------------------


def test_script_sees_file_module_and_path(tmp_path: Path, env: ManagedEnvironment) -> None:
    path = write(
        tmp_path / "introspect.vpy",
        "import sys\n"
        "seen_file = __file__\n"
        "seen_name = __name__\n"
        "seen_module = sys.modules[__name__]\n"
        "seen_path0 = sys.path[0]\n"
        "seen_argv0 = sys.argv[0]\n",
    )
    path_before, argv_before = list(sys.path), list(sys.argv)
    script = load_script(path, env)
    script.result()
    get = script.get_variable
    assert get("seen_file").result() == str(path)
    assert get("seen_name").result() == "__vapoursynth__"
    assert get("seen_module").result() is script.module
    assert get("seen_path0").result() == str(tmp_path)
    assert get("seen_argv0").result() == str(path)  # as vspipe and vsjetengine
    # All of it is undone afterwards.
    assert "__vapoursynth__" not in sys.modules
    assert sys.path == path_before
    assert sys.argv == argv_before


def test_code_sees_its_filename_as_file(env: ManagedEnvironment) -> None:
    script = load_code("seen = (__file__, __cached__)", env, filename="<quick script 1>")
    script.result()
    assert script.get_variable("seen").result() == ("<quick script 1>", None)


def test_script_can_import_modules_next_to_it(tmp_path: Path, env: ManagedEnvironment) -> None:
    write(tmp_path / "vpy_test_helper_mod.py", "def make(core):\n    return core.std.BlankClip(length=3)\n")
    path = write(
        tmp_path / "main.vpy",
        "import vapoursynth as vs\n"
        "import vpy_test_helper_mod\n"
        "vpy_test_helper_mod.make(vs.core).set_output()\n",
    )
    try:
        load_script(path, env).result()
    finally:
        sys.modules.pop("vpy_test_helper_mod", None)
    assert output_clip(env).num_frames == 3


def test_dataclasses_work_in_scripts(tmp_path: Path, env: ManagedEnvironment) -> None:
    # dataclasses look the defining module up in sys.modules (string annotations).
    path = write(
        tmp_path / "dc.vpy",
        "from __future__ import annotations\n"
        "import dataclasses\n"
        "@dataclasses.dataclass\n"
        "class Settings:\n"
        "    width: int = 64\n"
        "    label: dataclasses.InitVar[str] = 'x'\n"
        "result = Settings().width\n",
    )
    script = load_script(path, env)
    script.result()
    assert script.get_variable("result").result() == 64


def test_an_existing_module_of_the_same_name_is_restored(env: ManagedEnvironment) -> None:
    placeholder = types.ModuleType("__vapoursynth__")
    sys.modules["__vapoursynth__"] = placeholder
    try:
        script = load_code("import sys\ninside = sys.modules[__name__]", env)
        script.result()
        assert script.get_variable("inside").result() is script.module
        assert sys.modules["__vapoursynth__"] is placeholder
    finally:
        del sys.modules["__vapoursynth__"]


def test_path_is_restored_when_the_script_fails(tmp_path: Path, env: ManagedEnvironment) -> None:
    before = list(sys.path)
    with pytest.raises(ExecutionError):
        load_script(write(tmp_path / "bad.vpy", "raise RuntimeError('x')\n"), env).result()
    assert sys.path == before
    assert "__vapoursynth__" not in sys.modules


# -- errors ------------------------------------------------------------------------------------------


def test_execution_error_names_script_line_and_error(tmp_path: Path, env: ManagedEnvironment) -> None:
    path = write(tmp_path / "broken.vpy", "x = 1\n\nraise ValueError('the clip is wrong')\n")
    script = load_script(path, env)
    with pytest.raises(ExecutionError) as info:
        script.result()
    error = info.value
    assert str(error) == f"script {path}, line 3: ValueError: the clip is wrong"
    assert isinstance(error.parent_error, ValueError)
    assert error.__cause__ is error.parent_error
    assert error.lineno == 3
    assert "raise ValueError('the clip is wrong')" in error.script_traceback
    assert ExecutionFailed is ExecutionError
    # The future carries the same error.
    assert script.run().exception() is error


def test_syntax_errors_are_execution_errors(tmp_path: Path, env: ManagedEnvironment) -> None:
    path = write(tmp_path / "syntax.vpy", "clip = (\n")
    with pytest.raises(ExecutionError, match=r"syntax\.vpy, line 1: SyntaxError: '\(' was never closed"):
        load_script(path, env).result()


def test_missing_script_is_a_clear_error(tmp_path: Path, env: ManagedEnvironment) -> None:
    with pytest.raises(FileNotFoundError, match="VapourSynth script not found") as info:
        load_script(tmp_path / "nope.vpy", env)
    assert info.value.filename == str(tmp_path / "nope.vpy")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_script(tmp_path, env)


def test_bad_environment_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="environment must be a Policy"):
        load_code("x = 1", 42)  # type: ignore[arg-type]


def test_failing_script_in_with_disposes_its_environment(tmp_path: Path, policy: Policy) -> None:
    path = write(tmp_path / "bad.vpy", "raise KeyError('k')\n")
    script = load_script(path, policy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(ExecutionError, match="KeyError"), script:
            pass  # pragma: no cover (entering fails)
    assert script.disposed
    assert isinstance(script.environment, ManagedEnvironment)
    assert script.environment.disposed


def test_an_execution_error_does_not_keep_a_disposed_core_alive(tmp_path: Path, policy: Policy) -> None:
    # The failing function's frame holds a clip in a local: the kept error's traceback must not.
    path = write(
        tmp_path / "holds.vpy",
        "import vapoursynth as vs\n"
        "def build():\n"
        "    clip = vs.core.std.BlankClip(length=3)\n"
        "    holder.append(clip)\n"
        "    raise RuntimeError('broken build')\n"
        "build()\n",
    )
    script = load_script(path, policy)
    holder: list[vs.VideoNode] = []
    script.module.__dict__["holder"] = holder
    with pytest.raises(ExecutionError) as info:
        script.result()
    clip_ref = weakref.ref(holder.pop())
    del holder
    error = info.value
    gc.collect()
    assert clip_ref() is not None  # the traceback still shows where it failed before dispose
    script.dispose()
    gc.collect()
    assert clip_ref() is None, "the kept ExecutionError keeps the script's clip (and core) alive"
    assert "broken build" in str(error)
    assert 'holds.vpy", line 5, in build' in error.script_traceback
    assert "vsengine" not in error.script_traceback.replace(str(tmp_path), "")


def test_dispose_is_idempotent_and_blocks_running(env: ManagedEnvironment) -> None:
    script = load_code("x = 1", env)
    script.dispose()
    script.dispose()
    assert env.disposed
    with pytest.raises(RuntimeError, match="disposed"):
        script.run()
    with pytest.raises(RuntimeError, match="disposed"):
        load_code("y = 1", script)


def test_script_repr(env: ManagedEnvironment) -> None:
    script = load_code("x = 1", env, filename="<demo>")
    assert repr(script) == "<Script <demo> (loaded)>"
    assert isinstance(script, Script)


def test_dispose_leaves_the_frames_of_waiting_code_alone(policy: Policy) -> None:
    # The error's own traceback runs through the coroutine that awaited the script; disposing the
    # script from another task while that coroutine is suspended must not touch its frame.
    async def body() -> tuple[str, bool]:
        script = load_code("raise ValueError('x')", policy)
        try:
            await script
        except ExecutionError as caught:
            error = caught
        local = "still here"

        async def dispose() -> None:
            script.dispose()

        await asyncio.create_task(dispose())
        return local, error.__traceback__ is not None

    assert run_under("asyncio", body) == ("still here", True)


def test_a_running_script_cannot_be_disposed(env: ManagedEnvironment) -> None:
    release = threading.Event()
    script = load_code("release.wait(20)", env, inline=False)
    script.module.__dict__["release"] = release
    future = script.run()
    try:
        with pytest.raises(RuntimeError, match="is still running; wait for it before disposing it"):
            script.dispose()
    finally:
        release.set()
    future.result(timeout=20)
    script.dispose()
    assert script.disposed


# -- vsjetengine 2.0 and 1.x names ----------------------------------------------------------------------


def test_script_is_subscriptable(env: ManagedEnvironment) -> None:
    # Clients annotate with Script[ManagedEnvironment] and evaluate it at run time.
    assert Script[ManagedEnvironment].__origin__ is Script  # type: ignore[attr-defined]
    assert Script[vs.Environment].__args__ == (vs.Environment,)  # type: ignore[attr-defined]
    assert isinstance(load_code("x = 1", env), Script)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_run_async(env: ManagedEnvironment, adapter: str) -> None:
    async def body() -> tuple[Any, str]:
        good = load_code("import threading\nthread = threading.get_ident()", env, inline=False)
        await good.run_async()
        bad = load_code("raise ValueError('async boom')", env)
        try:
            await bad.run_async()
        except ExecutionError as error:
            return await good.get_variable("thread"), str(error)
        return None, "no error"

    thread, message = run_under(adapter, body)
    assert thread != threading.get_ident()
    assert message == "script <vapoursynth code>, line 1: ValueError: async boom"


def test_extract_traceback_formats_any_exception(env: ManagedEnvironment) -> None:
    def failing() -> None:
        raise LookupError("not here")

    try:
        failing()
    except LookupError as caught:
        text = ExecutionError.extract_traceback(caught)
    assert text.startswith("Traceback (most recent call last):\n")
    assert "in failing\n" in text
    assert text.endswith("LookupError: not here\n")
    script = load_code("def inner():\n    raise KeyError('k')\ninner()\n", env, filename="<mine>")
    error = script.run().exception()
    assert isinstance(error, ExecutionError)
    assert ExecutionError.extract_traceback(error.parent_error) == error.script_traceback
    assert 'File "<mine>", line 2, in inner' in error.script_traceback


def test_load_code_accepts_an_ast_module_and_buffers(env: ManagedEnvironment) -> None:
    tree = ast.parse("x = 'ast'")
    source = bytearray(b"x = 'bytearray'")
    loaded = [load_code(tree, env), load_code(memoryview(b"x = 'memoryview'"), env), load_code(source, env)]
    source[:] = b"x = 'changed later'"  # a buffer is read when the script is loaded
    values = []
    for script in loaded:
        script.result()
        values.append(script.get_variable("x").result())
    assert values == ["ast", "memoryview", "bytearray"]


def test_get_variable_without_a_default_fails_like_vsjetengine(env: ManagedEnvironment) -> None:
    script = load_code("present = None", env)
    script.result()
    assert script.get_variable("present").result() is None
    assert script.get_variable("absent", "fallback").result() == "fallback"
    with pytest.raises(AttributeError, match="<vapoursynth code> has no global variable 'absent'") as caught:
        script.get_variable("absent").result()
    assert caught.value.name == "absent"


def test_get_variable_of_a_running_script_waits_for_it(env: ManagedEnvironment) -> None:
    release = threading.Event()
    script = load_code("release.wait(20)\nlate = 'set at the end'", env, inline=False)
    script.module.__dict__["release"] = release
    script.run()
    late = script.get_variable("late")
    assert not late.done()
    release.set()
    assert late.result(timeout=20) == "set at the end"


def test_wrap_all_errors_and_the_1x_runners(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError) as caught, WrapAllErrors():
        raise KeyboardInterrupt
    assert isinstance(caught.value.parent_error, KeyboardInterrupt)
    inner = ExecutionError(ValueError("inner"))
    with pytest.raises(ExecutionError) as passed, WrapAllErrors():
        raise inner
    assert passed.value is inner

    assert inline_runner(lambda: 7).result() == 7
    failed = inline_runner(lambda: 1 / 0)
    assert isinstance(failed.exception(), ZeroDivisionError)

    before = os.getcwd()
    in_tmp = chdir_runner(tmp_path, inline_runner)
    assert in_tmp(os.getcwd).result() == str(tmp_path)
    assert in_tmp(os.path.join, "a", "b").result() == os.path.join("a", "b")
    assert os.getcwd() == before


# -- a failure before the script body settles the script (issue 13 item 6) -------------------------------


class CustomBaseException(BaseException):
    pass


def _disposed_environment(policy: Policy) -> ManagedEnvironment:
    gone = policy.new_environment()
    gone.dispose()
    return gone


FAILURES_BEFORE_THE_BODY = {
    "disposed environment": (
        lambda policy, env, tmp: load_code("x = 1", _disposed_environment(policy)),
        "disposed",
    ),
    "missing chdir": (
        lambda policy, env, tmp: load_code("x = 1", env, chdir=tmp / "gone"),
        "FileNotFoundError",
    ),
    "KeyboardInterrupt": (
        lambda policy, env, tmp: load_code("raise KeyboardInterrupt", env),
        "KeyboardInterrupt",
    ),
    "another BaseException": (
        lambda policy, env, tmp: load_code("raise Custom('mine')", env, module=_with_custom()),
        "CustomBaseException: mine",
    ),
}


def _with_custom() -> types.ModuleType:
    module = types.ModuleType("__custom__")
    module.Custom = CustomBaseException  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
@pytest.mark.parametrize("case", list(FAILURES_BEFORE_THE_BODY))
def test_a_script_that_cannot_run_settles_its_future(
    policy: Policy, env: ManagedEnvironment, tmp_path: Path, case: str, inline: bool
) -> None:
    make, phrase = FAILURES_BEFORE_THE_BODY[case]
    script = make(policy, env, tmp_path)
    script.inline = inline
    future = script.run()
    error = future.exception(timeout=20)
    assert isinstance(error, ExecutionError)
    assert phrase in str(error)
    assert script.run() is future  # the same outcome again, at once
    with pytest.raises(ExecutionError):
        script.result()
    script.dispose()  # not "still running"
    assert script.disposed
