"""Run one module of CPython's ``test.test_asyncio`` with a chosen event loop (child process).

The driver (``run_conformance.py``) starts one of these per module and per loop kind. It writes one
JSON object per line to ``--out`` and flushes after each, so that the driver sees progress, and
knows which test was running if this process hangs or dies:

- ``{"event": "start", "id": ...}`` when a test starts;
- ``{"event": "end", "id": ..., "outcome": ..., "detail": ..., "loops": {...}, "seconds": ...}``
  when it ends (outcome: pass, fail, error, skip, xfail, xpass);
- ``{"event": "done", "loops": {...}, "qtinter_classes": {...}}`` when the module finished.

``loops`` counts the event loops constructed (see ``_loops.LoopCensus``): the ``qtinter`` ones
and every other class by name.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
import unittest
from typing import IO, Any

import _loops


def _detail(err: Any) -> str:
    """The last lines of a formatted exception: enough to recognise a failure in a summary."""
    exc_type, exc, tb = err
    lines = traceback.format_exception(exc_type, exc, tb)
    text = "".join(lines).rstrip()
    return text[-4000:]


class JsonLinesResult(unittest.TestResult):
    """A TestResult that streams each test's outcome as a JSON line."""

    def __init__(self, out: IO[str], census: _loops.LoopCensus) -> None:
        super().__init__()
        self._out = out
        self._census = census
        self._current: dict[str, Any] | None = None
        self._started = 0.0

    def _write(self, obj: dict[str, Any]) -> None:
        self._out.write(json.dumps(obj) + "\n")
        self._out.flush()

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._current = {"id": test.id(), "outcome": None, "detail": ""}
        self._census.reset()
        self._started = time.monotonic()
        self._write({"event": "start", "id": test.id()})

    def _set(self, test: Any, outcome: str, detail: str = "") -> None:
        test_id = test.id() if hasattr(test, "id") else str(test)
        if self._current is None or self._current["id"] != test_id:
            # setUpClass/setUpModule/tearDownModule errors arrive outside any test.
            self._write({"event": "end", "id": test_id, "outcome": outcome, "detail": detail})
            return
        # Keep the worst outcome (an error in tearDown after a failure, for example).
        rank = {None: 0, "pass": 1, "skip": 2, "xfail": 2, "xpass": 3, "fail": 4, "error": 5}
        if rank[outcome] >= rank[self._current["outcome"]]:
            self._current["outcome"] = outcome
            if detail:
                self._current["detail"] = detail

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._set(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._set(test, "fail", _detail(err))

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self._set(test, "error", _detail(err))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._set(test, "skip", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._set(test, "xfail")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._set(test, "xpass")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._set(test, "fail" if failed else "error", f"{subtest.id()}\n{_detail(err)}")

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        current = self._current
        self._current = None
        if current is None:
            return
        outcome = current["outcome"] or "pass"  # subtests that all passed report nothing else
        self._write(
            {
                "event": "end",
                "id": current["id"],
                "outcome": outcome,
                "detail": current["detail"],
                "loops": self._census.snapshot(),
                "seconds": round(time.monotonic() - self._started, 3),
            }
        )


def _flatten(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    tests: list[unittest.TestCase] = []
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            tests.extend(_flatten(item))
        else:
            tests.append(item)
    return tests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=_loops.KINDS, required=True)
    parser.add_argument("--module", required=True, help="e.g. test.test_asyncio.test_tasks")
    parser.add_argument("--out", required=True, help="JSON lines file to append to")
    parser.add_argument("--skip-file", help="JSON list of test ids not to run (already done or hung)")
    parser.add_argument("--only", default="", help="comma-separated test ids: run these alone (a rerun)")
    args = parser.parse_args()

    skip: set[str] = set()
    if args.skip_file:
        with open(args.skip_file, encoding="utf-8") as f:
            skip = set(json.load(f))

    # A driver started in the background by a non-interactive shell (`nox ... &`) hands its children
    # an ignored SIGINT, and Python then leaves it ignored: the suite's Ctrl+C tests
    # (_thread.interrupt_main) would wait forever. Every run gets Python's usual handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    with open(args.out, "a", encoding="utf-8") as out:
        census = _loops.install(args.kind)
        if args.kind != "stock":
            _loops.self_check(args.kind)
            census.clear()
        try:
            suite = unittest.defaultTestLoader.loadTestsFromName(args.module)
        except unittest.SkipTest as exc:
            out.write(json.dumps({"event": "module-skip", "reason": str(exc)}) + "\n")
            return 0
        only = set(filter(None, args.only.split(",")))
        tests = [t for t in _flatten(suite) if t.id() not in skip and (not only or t.id() in only)]
        result = JsonLinesResult(out, census)
        unittest.TestSuite(tests).run(result)
        done = {"event": "done", "loops": census.total(), "qtinter_classes": census.ours_by_class()}
        out.write(json.dumps(done) + "\n")
        out.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: a leaked non-daemon thread or a Qt object destroyed late must not
    # turn a finished module into a hang or a crash that the driver would blame on a test.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
