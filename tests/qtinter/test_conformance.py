"""A slice of CPython's own asyncio test suite on qtinter loops, in every cell of the test matrix.

The full comparison (the whole of ``test.test_asyncio``, owner and guest mode, against the stock
loop) is ``nox -s conformance``; see docs/qtinter/conformance.md. This test runs the same harness
on two modules that make many real loops (streams over real sockets; ``asyncio.run`` and
``asyncio.Runner``), so that every Python x binding of the default ``nox`` run
checks that a test passing on asyncio's own loop passes on ours, and that the harness still puts
qtinter loops under the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).parent / "conformance" / "run_conformance.py"
MODULES = "test_streams,test_runners"

pytestmark = pytest.mark.timeout(300)


def test_tests_passing_on_the_stock_loop_pass_on_qtinter_loops(tmp_path: Path) -> None:
    # The suite runs as the conformance session runs it: without the dev mode the nox test
    # sessions set (it turns asyncio's debug mode on in every loop).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDEVMODE"}
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "--kinds", "stock,owner,guest", "--modules", MODULES,
         "--results", str(tmp_path), "--test-timeout", "60"],
        capture_output=True, text=True, timeout=280, env=env, check=False,
    )  # fmt: skip
    output = f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    report = json.loads((tmp_path / "results-owner-guest.json").read_text(encoding="utf-8"))

    assert report["regressions"] == {"owner": {}, "guest": {}}, output
    assert report["leaked_runnable_loops"] == {}, output
    for kind in ("owner", "guest"):
        modules = report["modules"][kind]
        assert [m["status"] for m in modules] == ["ok"] * 2, output
        made = sum(m["loops"].get("qtinter", 0) for m in modules)
        assert made >= 40, f"{kind}: only {made} qtinter loops were made\n{output}"
    passed = sum(1 for row in report["outcomes"].values() if row["owner"] == row["guest"] == "pass")
    assert passed >= 60, output
    assert proc.returncode == 0, output
