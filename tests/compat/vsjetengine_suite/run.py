"""Run vsjetengine 2.0.0's own test suite (from its sdist) against the installed vsengine-core.

Usage: ``python run.py SDIST RESULTS_DIR [pytest arguments]`` (``nox -s vsjetengine_suite`` does it).

Only the sdist's ``tests/`` and ``pyproject.toml`` (its pytest settings) are unpacked: its own
``vsengine/`` sources stay in the archive, so ``import vsengine`` is ours. ``vsjetengine_shims``
stands in for the private modules the tests import; the tests of vsjetengine's internals are
deselected (OUT_OF_SCOPE, each with its reason, also listed in docs/vsengine/compatibility.md), and
so are the tests of behaviour vsengine-core changes on purpose (DELIBERATE, each a documented row).
Writes RESULTS_DIR/vsjetengine-suite.xml (JUnit) and vsjetengine-suite.md (the summary); exits 1
if any selected test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Whole modules that test vsjetengine's private internals.
IGNORED_MODULES = {
    "tests/test_hospice.py": "vsengine._hospice, 2.0's delayed core release (ours: vsengine._release)",
    "tests/test_helpers.py": "vsengine._helpers.use_inline, a private helper",
}

_FACTORY_IMPL = "calls the private _vpy_env_factory_impl()"
_NODES = "vsengine._nodes, 2.0's private frame-buffer helpers (ours: vsengine._readahead)"
_MOCKED_HOOK = (
    "drives a hook function of 2.0's plugin by hand with mock sessions, items and pluggy outcomes; "
    "ours sets the stage in pytest_runtest_setup and checks leaks in pytest_runtest_teardown "
    "(tests/vsengine/test_pytest_plugin.py runs real pytest sessions instead)"
)

#: Single tests of private internals: node id -> why it is out of scope.
OUT_OF_SCOPE: dict[str, str] = {
    "tests/test_video.py::test_buffer_futures_resolved_and_cancelled": _NODES,
    "tests/test_video.py::test_buffer_futures_early_exit": _NODES,
    "tests/test_video.py::test_buffer_futures_source_exception": _NODES,
    "tests/test_video.py::test_buffer_futures_throw": _NODES,
    "tests/test_video.py::test_close_when_needed_early_break_closes_frame": _NODES,
    "tests/test_video.py::test_close_when_needed_result_exception": _NODES,
    "tests/test_vpy.py::test_modified_path": "vsengine.vpy._ModifiedPath, a private context manager",
    "tests/test_vpy.py::test_modified_argv0": "vsengine.vpy._ModifiedArgv0, a private context manager",
    **{
        f"tests/test_vpy.py::test_dispose_clears_future[{fail}]": "Script._future, a private attribute"
        for fail in ("False", "True")
    },
    "tests/test_pytest_plugin.py::test_vpy_policy_no_policy": "calls the private _vpy_policy_impl()",
    "tests/test_pytest_plugin.py::test_vpy_env_factory_no_policy": _FACTORY_IMPL,
    "tests/test_pytest_plugin.py::test_vpy_env_factory_automatic_disposal": _FACTORY_IMPL,
    "tests/test_pytest_plugin.py::test_vpy_creation_flags_shared_stage_error": _MOCKED_HOOK,
    "tests/test_pytest_plugin.py::test_pytest_generate_tests": _MOCKED_HOOK
    + "; it also expects unknown stages to be accepted, which ours rejects (compatibility.md)",
    "tests/test_pytest_plugin.py::test_pytest_collection_modifyitems": _MOCKED_HOOK,
    "tests/test_pytest_plugin.py::test_pytest_collection_modifyitems_cleanup": _MOCKED_HOOK,
    "tests/test_pytest_plugin.py::test_pytest_collection_modifyitems_no_vpy_items": _MOCKED_HOOK,
    "tests/test_pytest_plugin.py::test_pytest_runtest_makereport": _MOCKED_HOOK,
    "tests/test_pytest_plugin.py::test_ensure_clean_environment": _MOCKED_HOOK + "; and 2.0's _hospice",
    "tests/test_pytest_plugin.py::test_pytest_session_hooks": _MOCKED_HOOK,
    "tests/test_pytest_plugin.py::test_cleanup_failed": (
        "checks the exact wording and colours of 2.0's leak report; ours words it differently"
    ),
    **{
        f"tests/test_pytest_plugin.py::test_pytest_runtest_protocol_{name}": _MOCKED_HOOK
        for name in (
            "no_callspec",
            "policy_none_in_stash",
            "unparameterized_leak",
            "stage_change_initial_core",
            "stage_initial_core_env_none",
            "stage_reloaded_core",
            "stage_no_core_env_not_none",
            "stage_no_policy",
            "stage_unique_core",
        )
    },
}


_ADAPTER_CALL = (
    "deliberate: an adapter that cannot take a call returns a failed future instead of raising in the "
    "caller (compatibility.md, Event loops and futures)"
)

#: Tests of behaviour vsengine-core changes on purpose (each a row of docs/vsengine/compatibility.md).
DELIBERATE: dict[str, str] = {
    "tests/test_loop_adapters.py::test_asyncio_methods_without_running_loop": (
        "deliberate: AsyncIOLoop calls made before it knows its asyncio loop wait for it instead of raising"
    ),
    "tests/test_loop_adapters.py::test_trio_methods_unusable_states": _ADAPTER_CALL,
    "tests/test_loop_adapters.py::test_trio_methods_after_loop_finished": _ADAPTER_CALL,
    "tests/test_loop_adapters.py::test_trio_detach_lifecycle": (
        "deliberate: TrioEventLoop.detach() leaves the application's nursery alone (2.0 cancels it)"
    ),
    "tests/test_loop_adapters.py::test_asyncio_detach_lifecycle[owned_executor]": (
        "deliberate: AsyncIOLoop.detach() keeps its asyncio loop (2.0 forgets it)"
    ),
    "tests/test_policy.py::TestManagedEnvironment::test_dispose_destroyed_environment": (
        "deliberate: a disposed environment's outputs stay readable "
        "(compatibility.md, Policies and environments)"
    ),
    "tests/test_vpy.py::test_load_code_dunder_attributes": (
        "deliberate: load_code(filename=...) names the code as given, not made absolute "
        "(compatibility.md, Scripts)"
    ),
    **{
        f"tests/test_video.py::test_render_y4m_headers[{param}]": (
            "deliberate: 10-bit and wider grey is Cmono10/Cmono16 as vspipe writes it, not Cmonop10 "
            "(compatibility.md, Frames and Y4M)"
        )
        for param in ("269090816-Cmonop10", "269484032-Cmonop16")
    },
    **{
        f"tests/test_video.py::test_render_y4m_{kind}_raises": (
            "deliberate: render() refuses a clip Y4M cannot carry when called, with a message naming the "
            "format and the conversion (2.0's wording differs; compatibility.md, Frames and Y4M)"
        )
        for kind in ("rgb", "float", "variable_resolution")
    },
}


def unpack(sdist: Path, into: Path) -> Path:
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        members = [
            member
            for member in archive.getmembers()
            if member.name.split("/", 2)[1:2] in (["tests"], ["pyproject.toml"])
        ]
        archive.extractall(into, members=members, filter="data")
    (root,) = into.iterdir()
    return root


def summarise(junit: Path) -> tuple[int, list[tuple[str, str]], int]:
    """(passed, [(test id, first line of the failure)], skipped)."""
    passed = skipped = 0
    failures: list[tuple[str, str]] = []
    for case in ET.parse(junit).iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            failures.append((name, message[0][:200] if message else ""))
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failures, skipped


def main() -> int:
    sdist, results = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
    results.mkdir(parents=True, exist_ok=True)
    root = unpack(sdist, results / "vsjetengine-suite")
    junit = results / "vsjetengine-suite.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests",
        "-p",
        "vsjetengine_shims",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "--continue-on-collection-errors",  # a module that fails to import must not hide the others
        "-q",
        *(f"--ignore={module}" for module in IGNORED_MODULES),
        *(f"--deselect={test}" for test in [*OUT_OF_SCOPE, *DELIBERATE]),
        *sys.argv[3:],
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    status = subprocess.run(command, cwd=root, env=env, check=False).returncode
    passed, failures, skipped = summarise(junit)
    lines = [
        "# vsjetengine 2.0.0's test suite on vsengine-core",
        "",
        f"{passed} passed, {len(failures)} failed or errored, {skipped} skipped; "
        f"{len(IGNORED_MODULES)} modules and {len(OUT_OF_SCOPE)} tests out of scope, "
        f"{len(DELIBERATE)} tests of deliberate differences not run.",
        "",
        *(f"- `{name}`: {message}" for name, message in failures),
    ]
    (results / "vsjetengine-suite.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 1 if failures or status not in (0, 5) else 0


if __name__ == "__main__":
    sys.exit(main())
