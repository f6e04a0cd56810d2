"""The pytest plugin vsengine.pytest, run on real test files in child pytest processes (pytester).

Each run is a separate process (``runpytest_subprocess``): the plugin registers a VapourSynth policy
for the child session, and VapourSynth has one policy per process. The plugin is found through its
``pytest11`` entry point, as it is for users; none of these runs loads it by hand.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "vsengine" / "pytest.md"
BLOCK = re.compile(r"^```(python|text)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _doc_examples() -> dict[str, tuple[str, list[str]]]:
    """The page's test files (a python block starting ``# test_x.py``) and the -v lines after each."""
    examples: dict[str, tuple[str, list[str]]] = {}
    name = None
    for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        first = body.splitlines()[0]
        if kind == "python" and first.startswith("# test_"):
            name = first[2:].strip()
            examples[name] = (body, [])
        elif kind == "text" and name is not None and not examples[name][1]:
            examples[name] = (examples[name][0], body.splitlines())
    return examples


EXAMPLES = _doc_examples()


#: Plugins of this test environment the child runs do not need (importing them takes seconds).
UNNEEDED = ("-p", "no:trio", "-p", "no:anyio", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-v", *UNNEEDED, *args)


def _outcomes(result: pytest.RunResult) -> list[str]:
    """The ``node-id OUTCOME`` lines of a -v run, in order, without the progress column."""
    lines = []
    for line in result.outlines:
        found = re.match(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", line)
        if found:
            lines.append(f"{found[1]} {found[2]}")
    return lines


def test_the_plugin_is_registered_for_pytest() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("vsengine") == "vsengine.pytest"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_doc_examples_run_as_documented(pytester: pytest.Pytester, name: str) -> None:
    source, expected = EXAMPLES[name]
    pytester.makepyfile(**{name.removesuffix(".py"): source})
    result = _run(pytester, name)
    assert _outcomes(result) == expected, result.stdout.str()


def test_stages_get_the_environments_they_promise(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_envs="""
        import pytest
        import vapoursynth as vs

        SEEN = {}

        @pytest.mark.vpy("initial-core", "reloaded-core", "unique-core")
        @pytest.mark.parametrize("n", [1, 2])
        def test_record(vpy_stage, n):
            # A mark of its own on the core: what an earlier test left there shows in which environment
            # this one runs. (Its env_id is an address, which a new environment can get again once an
            # old one is freed.)
            SEEN[(vpy_stage, n)] = vs.core.max_cache_size
            vs.core.max_cache_size = 1000 + n

        def test_compare():
            fresh = SEEN["initial-core", 1]
            assert fresh not in (1001, 1002)
            assert SEEN["initial-core", 2] == 1001  # one environment for the stage
            assert SEEN["reloaded-core", 1] == SEEN["reloaded-core", 2] == fresh  # a new one per test
            assert SEEN["unique-core", 1] == SEEN["unique-core", 2] == fresh  # and one of its own

        def test_unmarked_has_no_environment():
            with pytest.raises(RuntimeError):
                vs.get_current_environment()
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=10)


def test_vpy_stage_is_no_core_without_marked_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import vapoursynth as vs
        import pytest

        CLIP = vs.core.std.BlankClip(length=3)  # collected inside the plugin's environment

        def test_stage(vpy_stage):
            assert vpy_stage == "no-core"
            assert not vs.has_policy()  # nothing registered while the tests run

        def test_policy_fixture_explains(vpy_policy):
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: No environment policy registered. Is the test marked*"])


def test_vpy_env_factory_disposes_what_the_test_left(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_factory="""
        import pytest

        MADE = []

        @pytest.mark.vpy("no-core")
        def test_make(vpy_env_factory):
            MADE.extend([vpy_env_factory(), vpy_env_factory()])
            MADE[0].dispose()
            assert not MADE[1].disposed

        @pytest.mark.vpy("no-core")
        def test_after():
            assert [env.disposed for env in MADE] == [True, True]
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_flags_on_a_shared_stage_is_an_error_of_that_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_flags="""
        import pytest

        @pytest.mark.vpy("initial-core", flags_creation=1)
        def test_bad():
            pass

        @pytest.mark.vpy("initial-core")
        def test_good():
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=2, errors=1)  # test_good and the leak check
    result.stdout.fnmatch_lines(["*ValueError: *flags_creation=1) applies to the unique-core stage only*"])


def test_vpy_flags_option_sets_the_creation_flags(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_option="""
        import pytest
        import vapoursynth as vs

        @pytest.mark.vpy
        def test_inspectable(vpy_policy):
            assert vpy_policy.flags_creation == vs.ENABLE_GRAPH_INSPECTION
            assert vs.core.std.BlankClip().is_inspectable(0)
        """
    )
    _run(pytester, f"--vpy-flags={1}").assert_outcomes(passed=4)


def test_unknown_stage_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.vpy("inital-core")
        def test_typo():
            pass
        """
    )
    result = _run(pytester)
    assert result.ret != 0
    assert "unknown stage(s) ['inital-core']; the stages are no-policy, no-core" in result.stdout.str()


def test_leak_message_names_the_environment_and_is_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_leak="""
        import pytest
        import vapoursynth as vs

        KEEP = []

        @pytest.mark.vpy("initial-core", "reloaded-core")
        def test_keep(vpy_stage):
            if vpy_stage == "initial-core":
                KEEP.append(vs.core.std.BlankClip())
        """
    )
    result = _run(pytester)
    assert _outcomes(result) == [
        "test_leak.py::test_keep[initial-core] PASSED",
        "test_leak.py::@check-clean-environment[initial-core] FAILED",
        "test_leak.py::test_keep[reloaded-core] PASSED",
        "test_leak.py::@check-clean-environment[reloaded-core] PASSED",  # the same leak, not again
    ]
    result.stdout.fnmatch_lines(
        [
            "*cleaning up: initial-core*",
            "The test suite left a reference to a VapourSynth core after its environment was disposed.",
            "*environment #*: 1 reference(s) to its core",
        ]
    )


def test_a_failed_test_is_not_reported_as_a_leak(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fails="""
        import pytest
        import vapoursynth as vs

        @pytest.mark.vpy("initial-core", "unique-core")
        def test_fails():
            clip = vs.core.std.BlankClip()
            assert clip.num_frames == 1
        """
    )
    result = _run(pytester)
    assert _outcomes(result) == [
        "test_fails.py::test_fails[initial-core] FAILED",
        "test_fails.py::@check-clean-environment[initial-core] PASSED",
        "test_fails.py::test_fails[unique-core] FAILED",
    ]


def test_a_failed_setup_is_not_reported_as_a_leak(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_setup="""
        import pytest
        import vapoursynth as vs

        @pytest.fixture
        def frame():
            clip = vs.core.std.BlankClip(width=1920, height=1080)
            # VapourSynth refuses a function as a frame property; its error's traceback holds the frame.
            return clip.std.SetFrameProps(frame=clip.get_frame(0), function=print)

        @pytest.mark.vpy("initial-core")
        def test_uses_frame(frame):
            pass
        """
    )
    result = _run(pytester, "-rs")
    assert _outcomes(result) == [
        "test_setup.py::test_uses_frame[initial-core] ERROR",
        "test_setup.py::@check-clean-environment[initial-core] SKIPPED",
    ]
    result.stdout.fnmatch_lines(["*a initial-core test of this module failed*"])


def test_deselected_tests_get_no_leak_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_select="""
        import pytest

        @pytest.mark.slow
        @pytest.mark.vpy("initial-core")
        def test_one():
            pass

        def test_two():
            pass
        """
    )
    result = _run(pytester, "-m", "not slow", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    assert _outcomes(result) == ["test_select.py::test_two PASSED"]


def test_marked_tests_fail_clearly_when_another_policy_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import vapoursynth as vs

        vs.core.std.BlankClip()  # registers VapourSynth's standalone policy
        """
    )
    pytester.makepyfile(
        test_other="""
        import pytest

        @pytest.mark.vpy("initial-core")
        def test_one():
            pass
        """
    )
    result = _run(pytester)
    result.stdout.fnmatch_lines(["*another VapourSynth policy is registered*"])
