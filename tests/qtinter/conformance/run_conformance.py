"""Run CPython's own ``test.test_asyncio`` on qtinter loops and compare with the stock loop.

Usage (the nox session ``conformance`` calls this)::

    QTINTERBINDING=pyqt6 QT_QPA_PLATFORM=offscreen \\
        python tests/qtinter/conformance/run_conformance.py --kinds stock,owner --results DIR

For each kind (see ``_loops.py``: ``stock``, ``owner``, ``guest``) and each module of
``test.test_asyncio``, a fresh child process (``_child.py``) runs the module's tests with unittest
and streams one JSON line per test. A test that runs longer than ``--test-timeout`` is recorded as
``timeout``; a child that dies during a test records that test as ``crash``; either way the
module is resumed in a new child without the tests already recorded, so one hang or crash costs
one test, not a module. ``--module-timeout`` bounds a module as a whole.

Outputs under ``--results``: ``<kind>/<module>.jsonl`` (raw lines), ``<kind>/<module>.stderr``,
``results-<kinds>.json`` (per test id, the outcome of each kind) and ``summary-<kinds>.md`` (the
table), where ``<kinds>`` names the qtinter kinds of the run (``owner``, ``guest``). The exit
status is 0 when every test that passes on the stock loop passes on each qtinter kind and the
qtinter kinds constructed no loop that is not a qtinter loop, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import platform
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_child.py"
PASSING = {"pass", "xfail"}


def discover_modules() -> list[str]:
    try:
        import test.test_asyncio as package
    except ImportError as exc:  # some distributions strip the test package
        raise SystemExit(f"{sys.executable} has no test.test_asyncio package: {exc}") from exc
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("test_"))
    return [f"test.test_asyncio.{name}" for name in names]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: it and what it spawned
    except ProcessLookupError:
        pass
    proc.wait()


def run_module(
    kind: str,
    module: str,
    out_dir: Path,
    test_timeout: float,
    module_timeout: float,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run one module (or only the tests ``only`` names) in as many children as hangs and crashes need."""
    stem = f"{module}.rerun" if only else module
    jsonl = out_dir / f"{stem}.jsonl"
    stderr_path = out_dir / f"{stem}.stderr"
    skip_path = out_dir / f"{stem}.skip.json"
    for path in (jsonl, stderr_path, skip_path):
        path.unlink(missing_ok=True)
    results: dict[str, dict[str, Any]] = {}
    loops: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    incidents: list[dict[str, Any]] = []
    module_start = time.monotonic()
    status = "ok"
    while True:
        done_before = len(results)
        skip_path.write_text(json.dumps(sorted(results)), encoding="utf-8")
        with open(stderr_path, "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, str(CHILD), "--kind", kind, "--module", module,
                 "--out", str(jsonl), "--skip-file", str(skip_path), "--only", ",".join(only or ())],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True,
            )  # fmt: skip
            position = jsonl.stat().st_size if jsonl.exists() else 0
            running: str | None = None
            running_since = time.monotonic()
            finished = False
            reason = None
            while True:
                rc = proc.poll()
                if jsonl.exists():
                    with open(jsonl, encoding="utf-8") as f:
                        f.seek(position)
                        chunk = f.read()
                    complete = chunk[: chunk.rfind("\n") + 1]
                    position += len(complete.encode("utf-8"))
                    for line in complete.splitlines():
                        event = json.loads(line)
                        kind_of = event["event"]
                        if kind_of == "start":
                            running, running_since = event["id"], time.monotonic()
                        elif kind_of == "end":
                            results[event["id"]] = event
                            loops.update(event.get("loops", {}))
                            running = None
                        elif kind_of == "done":
                            classes.update(event.get("qtinter_classes", {}))
                            finished = True
                        elif kind_of == "module-skip":
                            finished, status = True, "skipped: " + event["reason"]
                if rc is not None:
                    break
                now = time.monotonic()
                if running is not None and now - running_since > test_timeout:
                    reason = "timeout"
                    _kill(proc)
                    break
                if now - module_start > module_timeout:
                    reason = "module-timeout"
                    _kill(proc)
                    break
                time.sleep(0.2)
        if finished:
            break
        tail = stderr_path.read_bytes()[-3000:].decode("utf-8", "replace")
        if reason is None:
            reason = f"crash (exit status {proc.returncode})"
        if running is not None:
            outcome = "timeout" if reason == "timeout" else "crash"
            detail = f"{reason} after {time.monotonic() - running_since:.0f} s\n{tail}"
            results[running] = {"id": running, "outcome": outcome, "detail": detail}
            incidents.append({"id": running, "reason": reason})
        elif reason != "module-timeout":
            incidents.append({"id": module, "reason": f"{reason} between tests", "stderr": tail})
        if reason == "module-timeout" or (running is None and len(results) == done_before):
            # Nothing to blame and skip: give up on the rest of the module.
            status = f"incomplete: {reason}"
            incidents.append({"id": module, "reason": reason, "stderr": tail})
            break
    return {
        "module": module,
        "status": status,
        "seconds": round(time.monotonic() - module_start, 1),
        "tests": results,
        "loops": dict(loops),
        "qtinter_classes": dict(classes),
        "incidents": incidents,
    }


def compare(by_kind: dict[str, dict[str, dict[str, Any]]], kinds: list[str]) -> dict[str, Any]:
    """Per test id, each kind's outcome; and for each qtinter kind the tests that regressed."""
    ids = sorted({test_id for tests in by_kind.values() for test_id in tests})
    table = {i: {k: by_kind[k].get(i, {}).get("outcome", "missing") for k in kinds} for i in ids}
    report: dict[str, Any] = {"outcomes": table, "regressions": {}}
    if "stock" in kinds:
        for kind in kinds:
            if kind == "stock":
                continue
            report["regressions"][kind] = {
                i: {
                    "stock": row["stock"],
                    kind: row[kind],
                    "detail": by_kind[kind].get(i, {}).get("detail", ""),
                }
                for i, row in table.items()
                if row["stock"] in PASSING and row[kind] not in PASSING
            }
    return report


#: How often a difference is rerun: it counts only if it shows again every time.
RERUNS = 2


def rerun_differences(
    report: dict[str, Any], results_dir: Path, test_timeout: float, module_timeout: float
) -> None:
    """Run each test that passed on stock only again, alone, on stock and on the qtinter kind.

    A difference that does not show again in every one of :data:`RERUNS` reruns (the test fails on
    stock too, or passes on ours) is moved from ``regressions`` to ``not_reproduced`` with the
    outcomes of the reruns: a test that depends on the machine (a loaded machine's timing, a shared
    file) must not fail the session.
    """
    report["not_reproduced"] = {}
    for kind, regressions in report["regressions"].items():
        reruns: dict[str, list[dict[str, str]]] = {test_id: [] for test_id in regressions}
        for _ in range(RERUNS):
            still = [i for i, runs in reruns.items() if all(_differs(r, kind) for r in runs)]
            by_module: dict[str, list[str]] = {}
            for test_id in still:
                by_module.setdefault(_module_name(test_id), []).append(test_id)
            for module, ids in by_module.items():
                outcomes: dict[str, dict[str, str]] = {i: {} for i in ids}
                for side in ("stock", kind):
                    run = run_module(side, module, results_dir / side, test_timeout, module_timeout, only=ids)
                    for test_id in ids:
                        outcomes[test_id][side] = run["tests"].get(test_id, {}).get("outcome", "missing")
                for test_id in ids:
                    reruns[test_id].append(outcomes[test_id])
        gone = [i for i, runs in reruns.items() if not all(_differs(r, kind) for r in runs)]
        for test_id in gone:
            row = regressions.pop(test_id)
            report["not_reproduced"].setdefault(kind, {})[test_id] = {**row, "rerun": reruns[test_id]}
        reproduced = len(reruns) - len(gone)
        print(f"[{kind}] reran {len(reruns)} differences alone: {reproduced} reproduced", flush=True)


def _differs(outcomes: dict[str, str], kind: str) -> bool:
    return outcomes["stock"] in PASSING and outcomes[kind] not in PASSING


def _module_name(test_id: str) -> str:
    """``test.test_asyncio.test_x.Class.test_y`` -> ``test.test_asyncio.test_x``."""
    parts = test_id.split(".")
    return ".".join(parts[:3])


def _tag(kinds: list[str]) -> str:
    """Names a run's summary files: the qtinter kinds it compared (so owner and guest runs coexist)."""
    return "-".join(k for k in kinds if k != "stock") or "stock"


def write_summary(results_dir: Path, kinds: list[str], runs: dict[str, list[dict[str, Any]]],
                  report: dict[str, Any]) -> str:  # fmt: skip
    lines = [
        f"# test.test_asyncio on {platform.python_implementation()} {platform.python_version()}, "
        f"QTINTERBINDING={os.environ.get('QTINTERBINDING', '?')}",
        "",
        "| kind | tests | pass | fail | error | skip | xfail | timeout | crash "
        "| qtinter loops | other loops |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        counts: Counter[str] = Counter()
        loops: Counter[str] = Counter()
        for module in runs[kind]:
            counts.update(t["outcome"] for t in module["tests"].values())
            loops.update(module["loops"])
        others = sum(v for k, v in loops.items() if k != "qtinter")
        total = sum(counts.values())
        lines.append(
            f"| {kind} | {total} | {counts['pass']} | {counts['fail']} | {counts['error']} | "
            f"{counts['skip']} | {counts['xfail']} | {counts['timeout']} | {counts['crash']} | "
            f"{loops['qtinter']} | {others} |"
        )
    lines += ["", "Tests that constructed an event loop (the others make none):"]
    for kind in kinds:
        if kind != "stock":
            tests = [t for m in runs[kind] for t in m["tests"].values()]
            on_ours = sum(1 for t in tests if t.get("loops", {}).get("qtinter"))
            lines.append(f"- {kind}: {on_ours} of {len(tests)}")
    for kind, regressions in report["regressions"].items():
        lines += ["", f"## {kind}: {len(regressions)} tests pass on the stock loop but not here", ""]
        for test_id, row in regressions.items():
            first = (row["detail"].strip().splitlines() or [""])[-1][:160]
            lines.append(f"- `{test_id}`: {row[kind]}: {first}")
    for kind, flaky in report.get("not_reproduced", {}).items():
        lines += ["", f"## {kind}: {len(flaky)} differences that did not reproduce when rerun alone", ""]
        for test_id, row in flaky.items():
            first = (row["detail"].strip().splitlines() or [""])[-1][:120]
            lines.append(f"- `{test_id}`: {row[kind]} ({first}); rerun: {row['rerun']}")
    for kind in kinds:
        if kind == "stock":
            continue
        census: Counter[str] = Counter()
        for module in runs[kind]:
            census.update(module.get("qtinter_classes", {}))
        lines += ["", f"## {kind}: census of the qtinter loops made, by class", ""]
        lines += [f"- `{name}`: {n}" for name, n in census.most_common()]
    for kind in kinds:
        if kind == "stock":
            continue
        leaks = Counter()
        for module in runs[kind]:
            leaks.update({k: v for k, v in module["loops"].items() if k != "qtinter"})
        if leaks:
            lines += ["", f"## {kind}: loops that were not qtinter loops", ""]
            lines += [f"- `{name}`: {n}" for name, n in sorted(leaks.items())]
        bad = [m for m in runs[kind] if not m["status"].startswith(("ok", "skipped"))]
        for module in bad:
            lines.append(f"- {kind} `{module['module']}`: {module['status']}")
    text = "\n".join(lines) + "\n"
    (results_dir / f"summary-{_tag(kinds)}.md").write_text(text, encoding="utf-8")
    return text


def leaked_runnable_loops(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, int]]:
    """Loops that are not qtinter loops, made during a qtinter run: the class replacement missed one.

    (Every loop class the suite uses is replaced, abstract bases and test doubles included, so any
    loop of another class counts.)"""
    leaks: dict[str, dict[str, int]] = {}
    for kind, modules in runs.items():
        if kind == "stock":
            continue
        counter: Counter[str] = Counter()
        for module in modules:
            for name, n in module["loops"].items():
                if name != "qtinter":
                    counter[name] += n
        if counter:
            leaks[kind] = dict(counter)
    return leaks


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="stock,owner,guest", help="comma-separated: stock,owner,guest")
    parser.add_argument("--results", type=Path, required=True, help="directory for the results")
    parser.add_argument("--modules", default="", help="comma-separated module names (default: all)")
    parser.add_argument("--test-timeout", type=float, default=90.0, help="seconds one test may take")
    parser.add_argument("--module-timeout", type=float, default=1200.0, help="seconds one module may take")
    parser.add_argument("--reuse", default="", help="comma-separated kinds whose complete module results "
                        "from an earlier run in --results (same Python) are reused, e.g. stock")  # fmt: skip
    parser.add_argument("--min-qtinter-loops", type=int, default=2500,
                        help="fail a full qtinter run that made fewer qtinter loops than this")  # fmt: skip
    args = parser.parse_args()

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    modules = discover_modules()
    if args.modules:
        wanted = [m if m.startswith("test.") else f"test.test_asyncio.{m}" for m in args.modules.split(",")]
        unknown = set(wanted) - set(modules)
        if unknown:
            raise SystemExit(f"unknown modules: {', '.join(sorted(unknown))}")
        modules = wanted

    results_dir: Path = args.results
    results_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds:
        out_dir = results_dir / kind
        out_dir.mkdir(exist_ok=True)
        runs[kind] = []
        for module in modules:
            saved = out_dir / f"{module}.run.json"
            run = None
            if kind in args.reuse.split(",") and saved.exists():
                run = json.loads(saved.read_text(encoding="utf-8"))
                complete = run["status"].startswith(("ok", "skipped"))
                if run.get("python") != platform.python_version() or not complete:
                    run = None
            if run is None:
                run = run_module(kind, module, out_dir, args.test_timeout, args.module_timeout)
                run["python"] = platform.python_version()
                saved.write_text(json.dumps(run), encoding="utf-8")
            else:
                run["status"] += " (reused)"
            counts = Counter(t["outcome"] for t in run["tests"].values())
            print(f"[{kind}] {module}: {run['status']} in {run['seconds']} s  {dict(sorted(counts.items()))}",
                  flush=True)  # fmt: skip
            runs[kind].append(run)

    by_kind = {kind: {i: t for m in runs[kind] for i, t in m["tests"].items()} for kind in kinds}
    report = compare(by_kind, kinds)
    if any(report["regressions"].values()):
        rerun_differences(report, results_dir, args.test_timeout, args.module_timeout)
    leaks = leaked_runnable_loops(runs)
    summary = {
        "python": platform.python_version(),
        "binding": os.environ.get("QTINTERBINDING"),
        "kinds": kinds,
        "modules": {
            kind: [{k: v for k, v in m.items() if k != "tests"} for m in runs[kind]] for kind in kinds
        },
        "leaked_runnable_loops": leaks,
        **report,
    }
    (results_dir / f"results-{_tag(kinds)}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(write_summary(results_dir, kinds, runs, report))

    ok = not any(report["regressions"].values()) and not leaks
    if not args.modules:
        for kind in kinds:
            if kind != "stock":
                made = sum(m["loops"].get("qtinter", 0) for m in runs[kind])
                if made < args.min_qtinter_loops:
                    print(f"{kind}: only {made} qtinter loops were constructed: the patching is broken")
                    ok = False
    if leaks:
        print(f"loops that are not qtinter loops were constructed during qtinter runs: {leaks}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
