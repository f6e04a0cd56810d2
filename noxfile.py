"""Development sessions: the test matrix, lint and type checks.

`nox` (no arguments) runs the default sessions: the whole test suite, lint and types.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "lint", "types"]

#: Python versions the VapourSynth packages support (VapourSynth wheels exist for 3.12+).
VS_PYTHONS = ["3.12", "3.13"]

TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.3", "pytest-trio>=0.8"]
CORE = "packages/vsengine-core"


def _run_pytest(session: nox.Session, *paths: str) -> None:
    session.run(
        "pytest",
        *paths,
        *session.posargs,
        env={"PYTHONDEVMODE": "1", "QT_QPA_PLATFORM": "offscreen"},
    )


@nox.session(python=VS_PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite of vsengine-core."""
    session.install("-e", f"{CORE}[trio,anyio]", *TEST_DEPS)
    _run_pytest(session, "tests/vsengine")


@nox.session(python=VS_PYTHONS[0])
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=VS_PYTHONS[0])
def types(session: nox.Session) -> None:
    """mypy --strict over every package."""
    session.install("mypy>=1.13", "-e", f"{CORE}[trio,anyio]", *TEST_DEPS)
    session.run("mypy", "--strict", "-p", "vsengine")
