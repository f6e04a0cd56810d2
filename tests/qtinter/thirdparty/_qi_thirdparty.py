"""pytest plugin: run a third-party asyncio test suite on one kind of event loop and record it.

The driver (``run_thirdparty.py``) loads this module with ``-p _qi_thirdparty`` in a pytest run of
a suite's own tests. At import time, before the suite's conftest runs, it prepares the process
with the conformance harness's ``_loops.install(kind)`` (``tests/qtinter/conformance/_loops.py``):
the Qt binding is imported and a ``QCoreApplication`` exists in every kind, and for ``owner`` and
``guest`` every way asyncio makes a loop (``asyncio.new_event_loop()``, ``asyncio.run()``,
``asyncio.Runner()``, the default policy, ``asyncio.SelectorEventLoop``...) makes a qtinter loop
of that mode, in Python subprocesses too. The suites need nothing else: anyio's ``asyncio``
backend and aiohttp's ``loop`` fixture go through ``asyncio.Runner``/``asyncio.new_event_loop``,
uvloop's ``AIOTestCase`` through ``asyncio.new_event_loop``.

It writes one JSON object per line to ``$QTINTER_THIRDPARTY_OUT`` and flushes after each, so the
driver knows which test was running if the process hangs (pytest-timeout's thread method ends the
process) or dies:

- ``{"event": "start", "id": nodeid}``;
- ``{"event": "end", "id": ..., "outcome": ..., "detail": ..., "loops": {...}, "seconds": ...}``
  (outcome: pass, fail, error, skip, xfail, xpass; ``loops`` counts the loops constructed during
  the test, by class, ``qtinter`` for ours: see ``_loops.LoopCensus``);
- ``{"event": "done", "loops": {...}}`` at the end of the session (loops made in the whole run).

``$QTINTER_THIRDPARTY_DESELECT`` names a JSON list of node ids not to run (tests a previous
process already recorded, or the one it hung or died in).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

import _loops

KIND = os.environ["QTINTER_THIRDPARTY_KIND"]

# Started from a background job, this process may have inherited an ignored SIGINT, which Python
# then leaves ignored, in the tests' own subprocesses too: the suites' Ctrl+C tests would hang.
signal.signal(signal.SIGINT, signal.default_int_handler)

census = _loops.install(KIND)
if KIND != "stock":
    _loops.self_check(KIND)
    census.reset()

#: Worse outcomes win when a test reports several phases (an error in teardown after a pass).
_RANK = {None: 0, "pass": 1, "skip": 2, "xfail": 2, "xpass": 3, "fail": 4, "error": 5}

_out = open(os.environ["QTINTER_THIRDPARTY_OUT"], "a", encoding="utf-8")  # noqa: SIM115 (whole session)


def _write(obj: dict[str, Any]) -> None:
    _out.write(json.dumps(obj) + "\n")
    _out.flush()


def _outcome(report: pytest.TestReport) -> str | None:
    xfailed = hasattr(report, "wasxfail")
    if report.passed:
        if report.when != "call":
            return None
        return "xpass" if xfailed else "pass"
    if report.skipped:
        return "xfail" if xfailed else "skip"
    return "fail" if report.when == "call" else "error"


class _Recorder:
    def __init__(self) -> None:
        self.current: dict[str, Any] | None = None
        self.started = 0.0

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        path = os.environ.get("QTINTER_THIRDPARTY_DESELECT")
        if not path:
            return
        done = set(json.loads(Path(path).read_text(encoding="utf-8")))
        keep = [item for item in items if item.nodeid not in done]
        dropped = [item for item in items if item.nodeid in done]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a module that cannot be imported: its tests never show up otherwise
            _write(
                {
                    "event": "end",
                    "id": report.nodeid,
                    "outcome": "error",
                    "detail": report.longreprtext[-3000:],
                }
            )

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.current = {"id": nodeid, "outcome": None, "detail": ""}
        census.reset()
        self.started = time.monotonic()
        _write({"event": "start", "id": nodeid})

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        current = self.current
        if current is None or current["id"] != report.nodeid:
            return
        outcome = _outcome(report)
        if outcome is not None and _RANK[outcome] >= _RANK[current["outcome"]]:
            current["outcome"] = outcome
            if report.failed or outcome == "skip":
                current["detail"] = _detail(report)

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        current, self.current = self.current, None
        if current is None:
            return
        _write(
            {
                "event": "end",
                "id": current["id"],
                "outcome": current["outcome"] or "pass",
                "detail": current["detail"],
                "loops": census.snapshot(),
                "seconds": round(time.monotonic() - self.started, 3),
            }
        )

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        _write({"event": "done", "loops": census.total(), "exitstatus": int(exitstatus)})


def _detail(report: pytest.TestReport) -> str:
    """The end of the failure text and of what the test printed: enough to recognise a failure."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    printed = "".join(
        f"\n--- {title} ---\n{text[-1500:]}" for title, text in report.sections if "Captured" in title
    )
    return report.longreprtext[-3000:] + printed


def _uvloop_is_asyncio_loop(self: Any) -> bool:
    return isinstance(self.loop, asyncio.BaseEventLoop)


if os.environ.get("QTINTER_THIRDPARTY_SUITE") == "uvloop":
    # uvloop's tests take asyncio's branch of a test when the loop's class is defined in a module
    # named asyncio.*; a qtinter loop is asyncio's loop (a subclass) defined in qtinter._*, so it
    # would run the branch written for uvloop. The test means "not uvloop's loop": ask that.
    import asyncio

    from uvloop import _testbase

    _testbase.BaseTestCase.is_asyncio_loop = _uvloop_is_asyncio_loop


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Recorder(), "qi-thirdparty-recorder")
