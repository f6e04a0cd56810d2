"""Development sessions: the test matrix, lint and type checks.

`nox` (no arguments) runs the default sessions: the whole test suite (vsengine-core on each
VapourSynth Python, qtinter on each Python x Qt binding), lint, types and install (the three
packages built and installed alone in clean environments). `nox -s conformance`
(not a default: it takes long) runs CPython's test.test_asyncio on qtinter loops, `nox -s thirdparty`
(not a default either) anyio's, aiohttp's and uvloop's test suites.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "tests_qt", "lint", "types", "install", "stress"]

#: Python versions the VapourSynth packages support (VapourSynth wheels exist for 3.12+).
VS_PYTHONS = ["3.12", "3.13"]

TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.3", "pytest-trio>=0.8", "hypothesis>=6.100"]
CORE = "packages/vsengine-core"
QTINTER = "packages/qtinter"
VSENGINE_QT = "packages/vsengine-qt"

#: (Python, Qt binding) pairs qtinter is tested on; the gaps (measured, see the machine facts notes):
#: PySide2 has working wheels only for 3.10, and the qtinter extras pin PySide6 below 6.12 on
#: Python < 3.12.
QT_MATRIX = [
    (python, binding)
    for python in ("3.10", "3.11", "3.12", "3.13")
    for binding in ("pyqt5", "pyqt6", "pyside6")
] + [("3.10", "pyside2")]
#: Import name of each binding (the value of QTINTERBINDING) by extra name.
QT_IMPORT_NAMES = {"pyqt5": "PyQt5", "pyqt6": "PyQt6", "pyside2": "PySide2", "pyside6": "PySide6"}
#: The bindings the type check runs once each for (they ship the most complete stubs).
TYPED_BINDINGS = ["pyqt6", "pyside6"]
#: pytest-qt 4.5 dropped PySide2.
PYTEST_QT = {"pyside2": "pytest-qt>=4.4,<4.5"}
# pytest-trio registers the root pytest config's trio_mode option (--strict-config rejects it otherwise).
# trustme: the qtinter SSL tests make their certificates with it.
QT_TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.3", "pytest-trio>=0.8", "trustme>=1.1", "hypothesis>=6.100"]


def _pytest_args(session: nox.Session, *paths: str) -> list[str]:
    """The session's test paths and its arguments after ``--``; test paths named there replace the
    session's own (``nox -s tests-3.12 -- tests/vsengine/test_vpy.py -x`` runs that module only)."""
    named = any(Path(arg.split("::")[0]).exists() for arg in session.posargs if not arg.startswith("-"))
    return [*session.posargs] if named else [*paths, *session.posargs]


def _run_pytest(session: nox.Session, *paths: str) -> None:
    session.run(
        "pytest",
        *_pytest_args(session, *paths),
        env={"PYTHONDEVMODE": "1", "QT_QPA_PLATFORM": "offscreen"},
    )


@nox.session(python=VS_PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite of vsengine-core (and of the compat session's patcher, tests/compat/test_porting.py,
    and the packages' layout, tests/layout/test_layout.py)."""
    # PySide6 runs the contract's custom Qt loop example and the QObject store test (no Qt app code).
    session.install("-e", f"{CORE}[trio,anyio]", *TEST_DEPS, "PySide6-Essentials")
    # vspipe (the reference the Y4M tests compare with) runs only once this has been done per venv.
    session.run("vapoursynth", "config", silent=True)
    # tests/compat/test_porting.py: the compat session's run-time patcher and the porting guide.
    _run_pytest(session, "tests/vsengine", "tests/compat/test_porting.py", "tests/layout/test_layout.py")


@nox.session
@nox.parametrize(
    "python,binding", [nox.param(python, binding, id=f"{python}-{binding}") for python, binding in QT_MATRIX]
)
def tests_qt(session: nox.Session, binding: str) -> None:
    """The test suite of qtinter on one Python with one Qt binding, offscreen."""
    tests = [p for p in Path("tests/qtinter").rglob("test_*.py") if "conformance" not in p.parts]
    if not tests:
        session.skip("tests/qtinter has no test modules yet")
    session.install("-e", f"{QTINTER}[{binding}]", *QT_TEST_DEPS, PYTEST_QT.get(binding, "pytest-qt>=4.4"))
    paths = ["tests/qtinter", "tests/layout/test_layout.py"]
    if session.python in VS_PYTHONS:  # vsengine-qt needs VapourSynth, which needs Python 3.12+
        session.install("-e", CORE, "-e", f"{VSENGINE_QT}[{binding}]", *TEST_DEPS)
        paths.append("tests/vsengine_qt")
    session.run(
        "pytest",
        "--ignore=tests/qtinter/conformance",
        *_pytest_args(session, *paths),
        env={
            "PYTHONDEVMODE": "1",
            "QT_QPA_PLATFORM": "offscreen",
            "QTINTERBINDING": QT_IMPORT_NAMES[binding],
            "PYTEST_QT_API": binding,
        },
    )


@nox.session
@nox.parametrize(
    "python,binding,mode",
    [
        nox.param(python, binding, mode, id=f"{python}-{binding}-{mode}")
        for python in VS_PYTHONS
        for binding in TYPED_BINDINGS
        for mode in ("owner", "guest")
    ],
)
def conformance(session: nox.Session, binding: str, mode: str) -> None:
    """CPython's test.test_asyncio on qtinter loops in one mode vs the stock loop (long: ~minutes).

    asyncio's loop classes are replaced by qtinter's (the suite's virtual-clock test loop and its
    tests of the base classes included), and every loop made is counted by class.

    Results go to build/conformance/<python>-<binding>/ (summary-<mode>.md, results-<mode>.json,
    raw lines per module); the stock run is reused from there when present (delete the directory
    to redo it). Fails when a test that passes on the stock loop does not pass on ours. Extra
    arguments go to the driver, e.g.
    `nox -s "conformance(3.12-pyqt6-owner)" -- --modules test_tasks,test_streams`.
    """
    session.install("-e", f"{QTINTER}[{binding}]")
    results = Path("build/conformance") / f"{session.python}-{binding}"
    session.run(
        "python",
        "tests/qtinter/conformance/run_conformance.py",
        "--kinds",
        f"stock,{mode}",
        "--reuse",
        "stock",
        "--results",
        str(results),
        *session.posargs,
        env={"QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": QT_IMPORT_NAMES[binding]},
    )


@nox.session(default=False)
@nox.parametrize(
    "python,binding",
    [
        nox.param(python, binding, id=f"{python}-{binding}")
        for python in VS_PYTHONS
        for binding in TYPED_BINDINGS
    ],
)
def thirdparty(session: nox.Session, binding: str) -> None:
    """anyio's, aiohttp's and uvloop's loop-generic test suites (from their sdists) on the stock loop
    and on qtinter loops in owner and guest mode (long: see docs/qtinter/thirdparty.md).

    Fails when a test passes on the stock loop only, or when a qtinter run did not really run on
    qtinter loops (the loop census). Results go to build/thirdparty/<python>-<binding>/ (summary.md,
    results.json, one JSON line per test and kind). Arguments go to the driver, e.g.
    `nox -s "thirdparty(3.12-pyqt6)" -- --suites anyio --kinds stock,guest --reuse stock`.
    """
    session.install("-e", f"{QTINTER}[{binding}]", "-r", "tests/qtinter/thirdparty/requirements.txt")
    session.run(
        "python",
        "tests/qtinter/thirdparty/run_thirdparty.py",
        "--results",
        str(Path("build/thirdparty") / f"{session.python}-{binding}"),
        *session.posargs,
        env={"QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": QT_IMPORT_NAMES[binding]},
    )


#: The public qtinter 0.11 tests of qtinter's interop functions run by `qtinter_public_suite`.
PUBLIC_QTINTER = "qtinter==0.11.0"
PUBLIC_QTINTER_TESTS = ["test_slot.py", "test_signal.py", "test_tasks.py", "test_sleep.py"]
#: Their tests of the deliberate differences listed in docs/qtinter/compatibility.md, and why.
PUBLIC_QTINTER_DIFFERENCES = {
    "test_slot.py::TestFreeFunction::test_no_loop": "message wording",
    "test_signal.py::TestSignal::test_copy_args": "asyncsignal's value shape (the spec)",
    "test_signal.py::TestSignal::test_signal_with_no_argument": "asyncsignal's value shape (the spec)",
    "test_signal.py::TestSignal::test_signal_with_one_argument": "asyncsignal's value shape (the spec)",
    "test_signal.py::TestMultiSignal::test_multiple_senders": "asyncsignal's value shape (the spec)",
    "test_signal.py::TestSignal::test_sender_gone": "SenderDestroyedError instead of waiting forever",
    "test_tasks.py::TestRunTask::test_disallow_nesting": "message wording",
    # Not qtinter's: PySide6 6.12 no longer refuses a connection to a method of an object without
    # weak references (the test's first assertion, on a plain connect, fails before reaching asyncslot).
    "test_slot.py::TestSlotBehavior::test_strong_receiver": "PySide6 6.12 (pyside6 only)",
}


@nox.session(python=VS_PYTHONS[0], default=False)
@nox.parametrize("binding", TYPED_BINDINGS)
def qtinter_public_suite(session: nox.Session, binding: str) -> None:
    """The public qtinter 0.11's own tests of asyncslot, asyncsignal, multisignal and run_task,
    downloaded from its sdist, on this qtinter (not a default session; ~10 s of tests).

    The tests of the differences docs/qtinter/compatibility.md lists are deselected (with the reason
    in PUBLIC_QTINTER_DIFFERENCES); every other test must pass.
    """
    session.install("-e", f"{QTINTER}[{binding}]", "pytest>=8", "pip")
    sdists = Path(session.create_tmp())
    session.run(
        "python", "-m", "pip", "download", PUBLIC_QTINTER, "--no-binary", ":all:", "--no-deps",
        "-d", str(sdists), "--quiet",
    )  # fmt: skip
    (sdist,) = sdists.glob("qtinter-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(sdists, filter="data")
    tests = next(sdists.glob("qtinter-*/tests"))
    (tests / "pytest.ini").write_text("[pytest]\n")  # their own configuration, not this repository's
    name = QT_IMPORT_NAMES[binding]
    deselect = [f"--deselect={test}" for test, why in PUBLIC_QTINTER_DIFFERENCES.items()
                if not why.endswith("(pyside6 only)") or name == "PySide6"]  # fmt: skip
    session.chdir(tests)
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", *PUBLIC_QTINTER_TESTS, *deselect,
        *session.posargs,
        env={"QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": name, "TEST_QT_MODULE": name},
    )  # fmt: skip


@nox.session(python=VS_PYTHONS[0])
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=VS_PYTHONS[0])
def types(session: nox.Session) -> None:
    """mypy --strict over every package; qtinter once per Qt binding (PyQt6, PySide6)."""
    session.install("mypy>=1.13", "-e", f"{CORE}[trio,anyio]", *TEST_DEPS)
    session.run("mypy", "--strict", "-p", "vsengine")
    session.install("-e", f"{QTINTER}[{','.join(TYPED_BINDINGS)}]")
    # qtinter/_bindings.py imports the PySide6 QtCore for type checking when TYPECHECK_PYSIDE6 is
    # true, the PyQt6 one otherwise.
    session.run("mypy", "--strict", "-p", "qtinter")
    session.run("mypy", "--strict", "-p", "qtinter", "--always-true", "TYPECHECK_PYSIDE6")
    session.install("-e", VSENGINE_QT)
    session.run("mypy", "--strict", "-p", "vsengine_qt", "--always-false", "TYPECHECK_PYSIDE6")
    session.run("mypy", "--strict", "-p", "vsengine_qt", "--always-true", "TYPECHECK_PYSIDE6")


@nox.session(python=VS_PYTHONS[0])
def bench(session: nox.Session) -> None:
    """Benchmarks (not a default session): `nox -s bench`; `nox -s bench -- --quick` is a smoke run.

    Compares plain asyncio, qtinter (owner and guest mode, PyQt6 and PySide6), qasync and
    PySide6.QtAsyncio; see docs/qtinter/performance.md. Arguments after `--` go to `python -m bench`.
    """
    session.install("-e", "packages/qtinter", "PyQt6>=6.5", "PySide6-Essentials>=6.5")
    # Comparison rows: optional. PySide6.QtAsyncio ships in PySide6-Addons.
    for optional in ("qasync", "PySide6-Addons>=6.5"):
        try:
            session.install(optional)
        except nox.command.CommandFailed:
            session.warn(f"{optional} is not installable here: its rows will read n/a")
    session.run("python", "-m", "bench", *session.posargs, env={"QT_QPA_PLATFORM": "offscreen"})


@nox.session(python=VS_PYTHONS[0])
@nox.parametrize("binding", ["PySide6", "PyQt6"])
def bench_frames(session: nox.Session, binding: str) -> None:
    """vsengine-qt frame delivery (not a default session): frames/s on the Qt main thread vs
    VapourSynth's own threads vs one Qt signal per frame; see docs/vsengine-qt/performance.md.
    Arguments after `--` go to bench/vsengine_qt_frames.py (e.g. `-- --rounds 3 --scale 0.2`)."""
    extra = {"PySide6": "pyside6", "PyQt6": "pyqt6"}[binding]
    session.install("-e", CORE, "-e", QTINTER, "-e", f"{VSENGINE_QT}[{extra}]")
    session.run(
        "python",
        "bench/vsengine_qt_frames.py",
        "--binding",
        binding,
        *session.posargs,
        env={"QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": binding},
    )


@nox.session(python=VS_PYTHONS[0], default=False)
@nox.parametrize("binding", ["PySide6", "PyQt6"])
def bench_preview(session: nox.Session, binding: str) -> None:
    """The previewer on the built-in clip (not a default session): startup to the first frame, seek
    latency, and the headless demo with and without PNGs; see docs/vsengine-qt/previewer.md.
    Arguments after `--` go to bench/vsengine_qt_preview.py (e.g. `-- --rounds 3`)."""
    extra = {"PySide6": "pyside6", "PyQt6": "pyqt6"}[binding]
    session.install("-e", CORE, "-e", QTINTER, "-e", f"{VSENGINE_QT}[{extra}]")
    session.run("python", "bench/vsengine_qt_preview.py", "--binding", binding, *session.posargs)


@nox.session(python=VS_PYTHONS[0], default=False)
def bench_burst(session: nox.Session) -> None:
    """vsengine.video.frame over a whole clip at once (not a default session): frames/s through
    vsengine's admission queue vs every request handed to VapourSynth at once; see
    docs/vsengine/video.md. Arguments after `--` go to bench/vsengine_frame_burst.py."""
    session.install("-e", CORE)
    session.run("python", "-m", "bench.vsengine_frame_burst", *session.posargs)


#: The built files of `nox -s install` (wheels and sdists of the three packages).
DIST = Path("build/install/dist")


def _fresh_venv(session: nox.Session, name: str, python: str) -> str:
    """A new, empty virtual environment under the session's tmp dir; returns its interpreter."""
    where = Path(session.create_tmp()) / name
    session.run("uv", "venv", "--quiet", "--clear", "-p", python, str(where), external=True)
    return str(where / "bin" / "python")


def _uv_pip(session: nox.Session, python: str, *args: str) -> None:
    session.run("uv", "pip", "install", "--quiet", "--python", python, *args, external=True)


@nox.session(python=VS_PYTHONS[0])
def install(session: nox.Session) -> None:
    """Build the three wheels and sdists, `twine check` them, and install each package alone.

    Every clean environment gets the third-party dependencies from the index first, then our
    packages with `--no-index --find-links build/install/dist`: only the built files can satisfy
    them (never PyPI's packages of the same names). Each runs its smoke script in tests/install/:
    qtinter with PyQt6 and no VapourSynth (on its oldest Python), vsengine-core with no Qt binding,
    vsengine-core installed over vsjetengine (the import must name the conflict and its fix),
    vsengine-qt pulling in the other two.
    """
    session.install("build[uv]>=1.2", "twine>=5")
    if DIST.exists():
        for old in DIST.iterdir():
            old.unlink()
    for package in (CORE, QTINTER, VSENGINE_QT):
        # The build backend is each package's own (hatchling), in an isolated environment made by uv.
        session.run(
            "python",
            "-m",
            "build",
            "--installer",
            "uv",
            "--sdist",
            "--wheel",
            "--outdir",
            str(DIST),
            package,
            silent=True,
        )
    built = sorted(str(p) for p in DIST.iterdir())
    session.log("built: " + ", ".join(Path(p).name for p in built))
    if len(built) != 6:
        session.error(f"expected a wheel and an sdist per package, got {built}")
    session.run("twine", "check", "--strict", *built)

    env = {"QT_QPA_PLATFORM": "offscreen", "PYTHONDEVMODE": "1"}
    ours = ("--no-index", "--find-links", str(DIST))
    smoke = Path("tests/install")

    # qtinter alone, with one binding: on its oldest Python and on the VapourSynth ones' first.
    for python_version in ("3.10", session.python):
        python = _fresh_venv(session, f"qtinter-{python_version}", str(python_version))
        _uv_pip(session, python, "PyQt6>=6.5")
        _uv_pip(session, python, *ours, "qtinter")
        session.run(python, str(smoke / "smoke_qtinter.py"), env=env, external=True)

    # vsengine-core alone: VapourSynth, no Qt binding.
    python = _fresh_venv(session, "vsengine-core", str(session.python))
    _uv_pip(session, python, "vapoursynth>=74")
    _uv_pip(session, python, *ours, "vsengine-core")
    session.run(python, str(smoke / "smoke_vsengine.py"), env=env, external=True)

    # vsjetengine from PyPI, then vsengine-core over it (both install `vsengine`): the import stops
    # with the fix; the fix (uninstall both, ours again with --no-deps) leaves a working vsengine-core.
    python = _fresh_venv(session, "vsjetengine-conflict", str(session.python))
    _uv_pip(session, python, "vapoursynth>=74", "vsjetengine==2.0.0")
    _uv_pip(session, python, *ours, "vsengine-core")
    session.run(python, str(smoke / "smoke_vsengine_conflict.py"), "both", env=env, external=True)
    uninstall = ("uv", "pip", "uninstall", "--quiet", "--python", python)
    session.run(*uninstall, "vsjetengine", "vsengine-core", external=True)
    _uv_pip(session, python, *ours, "--no-deps", "vsengine-core")
    session.run(python, str(smoke / "smoke_vsengine_conflict.py"), "fixed", env=env, external=True)

    # vsengine-qt: pulls vsengine-core and qtinter from the built files; then the previewer, headless.
    python = _fresh_venv(session, "vsengine-qt", str(session.python))
    _uv_pip(session, python, "vapoursynth>=74", "PyQt6>=6.5")
    _uv_pip(session, python, *ours, "vsengine-qt[pyqt6]")
    session.run(python, str(smoke / "smoke_vsengine_qt.py"), env=env, external=True)
    png_dir = Path(session.create_tmp()) / "preview-png"
    shutil.rmtree(png_dir, ignore_errors=True)
    vsengine_qt = str(Path(python).parent / "vsengine-qt")
    session.run(
        vsengine_qt,
        "preview",
        "--headless",
        "--frames",
        "0-9",
        "--png-dir",
        str(png_dir),
        env=env,
        external=True,
    )
    pngs = sorted(p.name for p in png_dir.glob("*.png"))
    if len(pngs) != 10:
        session.error(f"vsengine-qt preview --headless --frames 0-9 wrote {pngs}")
    for package, version in (("vsengine-core", "0.1.0"), ("qtinter", "0.1.0"), ("vsengine-qt", "0.1.0")):
        # Installed from the built wheels (the same names on PyPI have other versions).
        session.run(
            python,
            "-c",
            f"import importlib.metadata as m; assert m.version({package!r}) == {version!r}",
            external=True,
        )


@nox.session(python=VS_PYTHONS[0])
@nox.parametrize("binding", ["PyQt6", "PySide6"])
def stress(session: nox.Session, binding: str) -> None:
    """Stress and fault tests (tests/stress/, about a minute per binding): thread floods into a
    guest-mode loop, thousands of environments, shutdown with frames in flight, Ctrl+C, errors in
    slots, frame callbacks and scripts, script reloads. Each scenario runs in a child process with
    a time limit."""
    extra = {"PySide6": "pyside6", "PyQt6": "pyqt6"}[binding]
    session.install("-e", CORE, "-e", QTINTER, "-e", f"{VSENGINE_QT}[{extra}]", *TEST_DEPS)
    session.run(
        "pytest",
        "tests/stress",
        *session.posargs,
        env={"QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": binding},
    )


@nox.session(python=False, default=False)
def under_load(session: nox.Session) -> None:
    """The default sessions while CPU hogs keep every core busy, with PYTHONDEVMODE=1 (not a default
    session; as long as `nox` itself, or longer). The suite must pass on a loaded machine: record each
    run in docs/reliability.md. Arguments after `--` go to the inner nox instead of its defaults, e.g.
    `nox -s under_load -- -s tests-3.12 "tests_qt(3.12-pyqt6)"`; NOX_HOGS sets the number of hogs
    (default: one per core)."""
    import os
    import subprocess
    import sys

    count = int(os.environ.get("NOX_HOGS", os.cpu_count() or 2))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    session.log(f"{count} CPU hogs started; load average {os.getloadavg()}")
    try:
        session.run("nox", *session.posargs, env={"PYTHONDEVMODE": "1"}, external=True)
    finally:
        session.log(f"load average at the end {os.getloadavg()}")
        for hog in hogs:
            hog.kill()
            hog.wait()


#: The real clients of vsengine and what each needs from PyPI (vs-preview 0.20.1 needs vsjetpack 1.x).
COMPAT_CLIENTS = {"vsview": ["vsview==0.14.0"], "vspreview": ["vspreview==0.20.1", "vsjetpack<2"]}
#: The public package vsengine-core replaces, at the version it is compared with.
VSJETENGINE = "vsjetengine==2.0.0"


def _client_venv(session: nox.Session, client: str, engine: str) -> str:
    """A fresh environment with ``client`` from PyPI on vsjetengine 2.0.0 or on our three packages.

    Ours go in the way docs/vsengine/compatibility.md tells users: install the client (which pulls
    vsjetengine), uninstall vsjetengine, install ours with --no-deps.
    """
    python = _fresh_venv(session, f"{client}-{engine}", str(session.python))
    _uv_pip(session, python, *COMPAT_CLIENTS[client], VSJETENGINE)
    if engine == "ours":
        session.run("uv", "pip", "uninstall", "--quiet", "--python", python, "vsjetengine", external=True)
        _uv_pip(session, python, "--no-deps", CORE, QTINTER, VSENGINE_QT)
    return python


def _download_sdist(session: nox.Session, requirement: str) -> Path:
    """The sdist of ``requirement`` from PyPI (needs pip in the session: uv cannot download)."""
    where = Path(session.create_tmp()) / "sdists" / requirement.replace("=", "-")
    shutil.rmtree(where, ignore_errors=True)
    name = requirement.split("=")[0]
    # --no-binary for the package itself only: its build requirements may come as wheels.
    session.run(
        "python",
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--no-binary",
        name,
        "--dest",
        str(where),
        requirement,
    )
    (sdist,) = where.glob("*.tar.gz")
    return sdist


#: vs-jetpack's test suite (its sdist's tests/) uses the vpy marker everywhere (its conftest).
VSJETPACK = "vsjetpack==2.2.6"


def _jetpack_suite(session: nox.Session, results: Path) -> bool:
    """vs-jetpack's own tests on vsjetengine 2.0.0 and on vsengine-core; True if ours lost none."""
    import tarfile

    root = Path(session.create_tmp()) / "vsjetpack-tests"
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(_download_sdist(session, VSJETPACK)) as archive:
        wanted = [
            m for m in archive.getmembers() if m.name.split("/", 2)[1:2] in (["tests"], ["pyproject.toml"])
        ]
        archive.extractall(root, members=wanted, filter="data")
    (suite,) = root.iterdir()
    junit = {}
    for engine in ("vsjetengine", "ours"):
        python = str(Path(_fresh_venv(session, f"vsjetpack-{engine}", str(session.python))).absolute())
        _uv_pip(session, python, VSJETPACK, VSJETENGINE, "pytest>=9")
        if engine == "ours":
            session.run("uv", "pip", "uninstall", "--quiet", "--python", python, "vsjetengine", external=True)
            _uv_pip(session, python, "--no-deps", CORE)
        junit[engine] = (results / f"vsjetpack-{engine}.xml").resolve()
        session.chdir(suite)
        try:
            session.run(
                python,
                "-m",
                "pytest",
                "tests",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={junit[engine]}",
                external=True,
                success_codes=[0, 1],
                silent=True,
            )
        finally:
            session.chdir(Path(__file__).parent)
    try:
        session.run("python", "tests/compat/compare_junit.py", str(junit["vsjetengine"]), str(junit["ours"]))
    except nox.command.CommandFailed:
        return False
    return True


def _missing_libpulse() -> bool:
    import ctypes.util

    return ctypes.util.find_library("pulse") is None


def _drive(session: nox.Session, python: str, client: str, run: str, results: Path, *args: str) -> bool:
    """Run tests/compat/drive_<client>.py in a fresh home; log its steps; True if every step completed."""
    home = Path(session.create_tmp()) / f"home-{client}-{run}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {"QT_QPA_PLATFORM": "offscreen", "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    output = str(
        session.run(
            python,
            f"tests/compat/drive_{client}.py",
            str(home / "work"),
            *args,
            env=env,
            external=True,
            silent=True,
            success_codes=[0, 1],
        )
    ).splitlines()
    steps = [line.removeprefix("STEP ") for line in output if line.startswith("STEP ")]
    if not any('"step": "total"' in line for line in steps):  # the driver's watchdog ended a hung step
        started = [line.removeprefix("START ") for line in output if line.startswith("START ")]
        hung = {"program": client, "engine": run, "step": started[-1] if started else "?", "outcome": "hung"}
        steps.append(json.dumps(hung))
    with (results / "steps.jsonl").open("a", encoding="utf-8") as out:
        out.writelines(f"{line}\n" for line in steps)
    with (results / "ports.jsonl").open("a", encoding="utf-8") as out:
        out.writelines(f"{line.removeprefix('PORT ')}\n" for line in output if line.startswith("PORT "))
    for line in steps:
        session.log(line)
    return any('"step": "total", "outcome": "ok"' in line for line in steps)


@nox.session(python=VS_PYTHONS[0], default=False)
def compat(session: nox.Session) -> None:
    """vsview 0.14.0 and vs-preview 0.20.1 from PyPI, driven headless, and vs-jetpack 2.2.6's own
    tests, on vsengine-core and on vsjetengine 2.0.0 (the reference) (not a default session: about
    10 minutes, ~2 GB of wheels).

    Each client gets two fresh environments (one per engine); tests/compat/drive_<client>.py loads a
    three-output script, switches output, seeks, plays, reloads, loads a broken script and checks
    that the error is shown, then closes. On vsengine-core it runs a second time with the client
    patched at run time onto vsengine_qt (its loop, and vs-preview's playback on FrameStream:
    tests/compat/port_<client>.py, docs/vsengine-qt/porting.md). The session fails if a step fails
    on vsengine-core, patched or not. vs-jetpack's tests run on both; a test that passes on the
    reference must pass on ours. Results: build/compat/steps.jsonl, ports.jsonl (the patches' line
    counts), port-<client>.diff, vsjetpack-*.xml and the log.
    `nox -s compat -- vspreview` (or vsview, vsjetpack) runs one part; `-- port` (with a client
    name or alone) only the patched runs.
    """
    parts = session.posargs or [*COMPAT_CLIENTS, "vsjetpack"]
    only_port = "port" in parts
    clients = [part for part in parts if part != "port"] or [*COMPAT_CLIENTS]
    session.install("pip")
    if "vsview" in clients and _missing_libpulse():
        session.error(
            "vsview imports QtMultimedia, which needs the system library libpulse.so.0 even offscreen: "
            "install the Debian/Ubuntu package libpulse0 (apt-get install -y libpulse0) and run again."
        )
    results = Path("build/compat").resolve()
    results.mkdir(parents=True, exist_ok=True)
    for log in ("steps.jsonl", "ports.jsonl"):
        (results / log).write_text("", encoding="utf-8")
    failed = []
    if "vsjetpack" in clients and not only_port and not _jetpack_suite(session, results):
        failed.append("vs-jetpack's tests")
    for client in (client for client in clients if client in COMPAT_CLIENTS):
        for engine in ("ours",) if only_port else ("vsjetengine", "ours"):
            python = _client_venv(session, client, engine)
            if not only_port and not _drive(session, python, client, engine, results) and engine == "ours":
                failed.append(client)
            if engine == "ours":
                diff = str(results / f"port-{client}.diff")
                if not _drive(session, python, client, "ours-port", results, "--port", diff):
                    failed.append(f"{client} patched onto vsengine_qt")
    if failed:
        session.error(f"a scripted session failed on vsengine-core: {', '.join(failed)} (see {results})")


@nox.session(python=VS_PYTHONS[0], default=False)
def vsjetengine_suite(session: nox.Session) -> None:
    """vsjetengine 2.0.0's own test suite, from its sdist on PyPI, run against vsengine-core (not a
    default session). The tests of vsjetengine's private internals are out of scope (listed in
    tests/compat/vsjetengine_suite/run.py and docs/vsengine/compatibility.md). Results:
    build/compat/vsjetengine-suite.md. Arguments after `--` go to pytest (e.g. `-- -k futures`)."""
    session.install(
        "-e",
        f"{CORE}[trio]",
        "pip",
        "pytest>=9",
        "pytest-asyncio>=0.24",
        "pytest-mock>=3.16",
        "pytest-trio>=0.8",
        "pytest-timeout>=2.3",
    )
    sdist = _download_sdist(session, VSJETENGINE)
    session.run(
        "python", "tests/compat/vsjetengine_suite/run.py", str(sdist), "build/compat", *session.posargs
    )
