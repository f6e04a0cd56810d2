"""Run third-party asyncio test suites on the stock loop and on qtinter loops, and compare.

Usage (the nox session ``thirdparty`` calls this, in a venv with the suites' packages and test
requirements installed from ``requirements.txt`` beside this file)::

    QTINTERBINDING=PyQt6 QT_QPA_PLATFORM=offscreen \\
        python tests/qtinter/thirdparty/run_thirdparty.py --results build/thirdparty/3.12-pyqt6

For each suite (``SUITES``: anyio's, aiohttp's and uvloop's loop-generic tests, from their sdists,
which this downloads with pip into ``--sdists``) and each kind of loop (``stock``, ``owner``,
``guest``: see ``tests/qtinter/conformance/_loops.py``), pytest runs the suite's own tests in a
child process with the ``_qi_thirdparty`` plugin, which installs the loops and streams one JSON
line per test. The suites test the installed wheels of the same versions (their source packages
are removed from the extracted sdists so that nothing imports them instead).

A test that hangs past ``--test-timeout`` (pytest-timeout ends the process) or kills the process is
recorded as ``timeout``/``crash`` and the run resumes in a new process without the tests already
recorded. Tests that pass on the stock loop but not on a qtinter kind are run again, alone, on
both (unless ``--no-recheck``): the verdict of each is printed and written to ``summary.md`` under
``--results``. The exit status is 1 when a test passed on the stock loop only and does not fail on
stock when run again (see ``verdicts``), when a qtinter run made no qtinter loop, or when it made a
loop of a runnable stock class (the replacement missed a way to make one); else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "conformance"))

from run_conformance import PASSING, _kill, compare, leaked_runnable_loops  # noqa: E402


@dataclass(frozen=True)
class Suite:
    """A third-party project whose own tests run on our loops."""

    name: str
    version: str
    #: The source packages inside the sdist: removed so that the tests import the installed wheel.
    sources: tuple[str, ...]
    #: pytest arguments, run in the extracted sdist's root.
    args: tuple[str, ...]


def _localhost_has_ipv6() -> bool:
    """Whether ``localhost`` resolves to an IPv6 address here (not in every container)."""
    try:
        return bool(socket.getaddrinfo("localhost", 0, socket.AF_INET6))
    except OSError:
        return False


#: anyio's tests of IPv6 sockets bind ``localhost``: where it has no IPv6 address they fail on every
#: loop, and the sockets they leak raise ResourceWarnings in whichever later test the garbage
#: collector happens to run in, failing it at random.
_ANYIO_NOT_IPV6 = "" if _localhost_has_ipv6() else " and not ipv6"

SUITES = {
    suite.name: suite
    for suite in (
        Suite(
            "anyio",
            "4.16.0",
            ("src",),
            # The asyncio backend (plain and eager task factory); trio and uvloop are not asyncio's
            # loop. Network tests need the Internet.
            ("tests", "-m", "not network", "-k", "not trio and not uvloop" + _ANYIO_NOT_IPV6),
        ),
        Suite(
            "aiohttp",
            "3.14.5",
            ("aiohttp",),
            # Its pytest.ini adds xdist, coverage and doctests of the source tree: replaced by the
            # same marker selection without them.
            ("tests", "-o", "addopts=", "-m", "not dev_mode and not autobahn and not internal"),
        ),
        Suite(
            "uvloop",
            "0.23.0",
            ("uvloop",),
            # Only the AIOTestCase classes: the same tests as uvloop's own, on asyncio's loop.
            ("tests", "-o", "addopts=--tb=native --import-mode=importlib", "-k", "AIO"),
        ),
    )
}


def fetch(suite: Suite, sdists: Path, work: Path) -> Path:
    """The suite's sdist, downloaded once into ``sdists`` and extracted afresh into ``work``."""
    installed = metadata.version(suite.name)
    if installed != suite.version:
        raise SystemExit(
            f"{suite.name} {installed} is installed, but its tests are {suite.version}'s: install "
            f"tests/qtinter/thirdparty/requirements.txt (the versions there and in SUITES must agree)"
        )
    name = f"{suite.name}-{suite.version}"
    archive = sdists / f"{name}.tar.gz"
    if not archive.exists():
        sdists.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", suite.name, "-d", str(sdists), f"{suite.name}=={suite.version}"],
            check=True,
        )  # fmt: skip
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    for source in suite.sources:
        shutil.rmtree(root / source)
    return root


def run_kind(
    suite: Suite, kind: str, root: Path, out_dir: Path, test_timeout: float, extra: list[str]
) -> dict[str, Any]:
    """Run a suite on one kind of loop, in as many pytest processes as hangs and crashes require."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = out_dir / f"{kind}.jsonl"
    log = out_dir / f"{kind}.log"
    deselect = out_dir / f"{kind}.deselect.json"
    for path in (jsonl, log, deselect):
        path.unlink(missing_ok=True)
    results: dict[str, dict[str, Any]] = {}
    loops: Counter[str] = Counter()
    incidents: list[dict[str, Any]] = []
    started = time.monotonic()
    status = "ok"
    env = {
        **os.environ,
        "QTINTER_THIRDPARTY_SUITE": suite.name,
        "QTINTER_THIRDPARTY_KIND": kind,
        "QTINTER_THIRDPARTY_OUT": str(jsonl),
        "QTINTER_THIRDPARTY_DESELECT": str(deselect),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "pytest", *suite.args, "-p", "_qi_thirdparty", "-q", "-p", "no:cacheprovider",
        "--continue-on-collection-errors", "-o", f"timeout={test_timeout:g}", "-o", "timeout_method=thread",
        *extra,
    ]  # fmt: skip
    while True:
        done_before = len(results)
        deselect.write_text(json.dumps(sorted(results)), encoding="utf-8")
        with open(log, "ab") as err:
            proc = subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
            position = jsonl.stat().st_size if jsonl.exists() else 0
            running: str | None = None
            running_since = time.monotonic()
            finished_at: float | None = None
            reason = None
            while True:
                rc = proc.poll()
                if jsonl.exists():
                    with open(jsonl, "rb") as f:
                        f.seek(position)
                        chunk = f.read()
                    complete = chunk[: chunk.rfind(b"\n") + 1]
                    position += len(complete)
                    for line in complete.decode("utf-8").splitlines():
                        event = json.loads(line)
                        if event["event"] == "start":
                            running, running_since = event["id"], time.monotonic()
                        elif event["event"] == "end":
                            results[event["id"]] = event
                            loops.update(event.get("loops", {}))
                            running = None
                        elif event["event"] == "done":
                            finished_at = time.monotonic()
                if rc is not None:
                    _kill(proc)  # what it left running: a hung test's subprocesses, after a timeout
                    break
                now = time.monotonic()
                if running is not None and now - running_since > test_timeout + 60:
                    reason = "timeout"  # pytest-timeout did not end it: the driver does
                    _kill(proc)
                    break
                if finished_at is not None and now - finished_at > 60:
                    _kill(proc)  # finished, but the interpreter does not exit (a leaked thread)
                    incidents.append({"id": suite.name, "reason": "hung at exit after the last test"})
                    break
                time.sleep(0.2)
        if finished_at is not None:
            break
        tail = log.read_bytes()[-3000:].decode("utf-8", "replace")
        if reason is None:
            reason = "timeout" if "+ Timeout +" in tail else f"crash (exit status {proc.returncode})"
        if running is not None:
            outcome = "timeout" if reason == "timeout" else "crash"
            detail = f"{reason} after {time.monotonic() - running_since:.0f} s\n{tail}"
            results[running] = {"id": running, "outcome": outcome, "detail": detail}
            incidents.append({"id": running, "reason": reason})
        if running is None and len(results) == done_before:
            status = f"incomplete: {reason}"
            incidents.append({"id": suite.name, "reason": reason, "log": tail})
            break
    return {
        "module": suite.name,
        "status": status,
        "seconds": round(time.monotonic() - started, 1),
        "tests": results,
        "loops": dict(loops),
        "incidents": incidents,
    }


def recheck(
    suite: Suite, kind: str, ids: list[str], root: Path, out_dir: Path, test_timeout: float, extra: list[str]
) -> dict[str, str]:
    """The outcome of each of ``ids`` run again, alone (in one process), on ``kind``."""
    args = Suite(suite.name, suite.version, (), (*_without_selection(suite.args), *ids))
    run = run_kind(args, kind, root, out_dir, test_timeout, extra)
    return {i: run["tests"].get(i, {}).get("outcome", "missing") for i in ids}


def _without_selection(args: tuple[str, ...]) -> tuple[str, ...]:
    """The suite's pytest options without its test paths and -k/-m selection (rechecks name ids)."""
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in ("-k", "-m"):
            skip_next = True
        elif not arg.startswith("tests"):
            kept.append(arg)
    return tuple(kept)


#: The verdict of a difference that does not count: the test fails on stock too when run again.
NOT_COUNTED = "not counted"


def verdicts(first: dict[str, Any], again: dict[str, dict[str, str]], kind: str) -> dict[str, str]:
    """Classify each test that passed on stock only in the first run, from the rechecks.

    Only a test that fails on stock too when run again is not counted. One that passes on ours
    when run alone still counts: the failure may need the tests that ran before it (aiohttp's
    ``test_test_utils`` tests fail after its ``run_app`` tests left the signal wake-up fd on a
    closed loop) or be an intermittent bug of ours (a closed loop freed only by the collector).
    """
    result = {}
    for test_id in first:
        stock, ours = again["stock"].get(test_id), again[kind].get(test_id)
        if stock not in PASSING:
            result[test_id] = f"{NOT_COUNTED}: {stock} on stock when run again"
        elif ours in PASSING:
            result[test_id] = "stock only; passed on ours when run alone (order-dependent or intermittent)"
        else:
            result[test_id] = f"stock only: {ours} on ours again"
    return result


#: The outcome columns of the summary table.
OUTCOMES = ("pass", "fail", "error", "skip", "xfail", "timeout", "crash")


def _counts(run: dict[str, Any]) -> Counter[str]:
    return Counter(t["outcome"] for t in run["tests"].values())


def _last_line(detail: str) -> str:
    """The last line of a failure's text that says something (not an exception group's frame)."""
    for line in reversed(detail.splitlines()):
        text = line.strip(" |+-")
        if text:
            return text[:200]
    return ""


def write_summary(results: Path, report: dict[str, Any]) -> str:
    binding = os.environ.get("QTINTERBINDING", "?")
    lines = [
        f"# Third-party suites on {platform.python_implementation()} {platform.python_version()}, {binding}",
        "",
        "| suite | kind | tests | pass | fail | error | skip | xfail | timeout | crash | seconds "
        "| qtinter loops | other loops |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, suite in report["suites"].items():
        for kind, run in suite["runs"].items():
            c = Counter(run["counts"])
            others = sum(v for k, v in run["loops"].items() if k != "qtinter")
            cells = [name, kind, sum(c.values()), *(c[o] for o in OUTCOMES), run["seconds"]]
            cells += [run["loops"].get("qtinter", 0), others]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    for name, suite in report["suites"].items():
        for kind, found in suite["stock_only"].items():
            if not found:
                continue
            lines += ["", f"## {name}, {kind}: {len(found)} tests passed on stock only in the first run", ""]
            for test_id, row in found.items():
                last = _last_line(row["detail"])
                lines.append(f"- `{test_id}`: {row[kind]}; {row['verdict']}. {last}")
        for kind, leaks in suite["leaks"].items():
            lines += ["", f"## {name}, {kind}: the census shows loops that are not ours", ""]
            lines += [f"- `{cls}`: {n}" for cls, n in sorted(leaks.items())]
        for kind, run in suite["runs"].items():
            for incident in run["incidents"]:
                lines.append(f"- {name} {kind}: `{incident['id']}`: {incident['reason']}")
    lines += ["", f"load average at start {report['load'][0]}, at end {report['load'][1]}"]
    text = "\n".join(lines) + "\n"
    (results / "summary.md").write_text(text, encoding="utf-8")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, of {', '.join(SUITES)}")
    parser.add_argument("--kinds", default="stock,owner,guest", help="comma-separated: stock,owner,guest "
                        "(without stock, nothing is compared: for runs to --reuse later)")  # fmt: skip
    parser.add_argument("--results", type=Path, required=True, help="directory for the results")
    parser.add_argument("--sdists", type=Path, default=Path("build/thirdparty/sdists"), help="sdist cache")
    parser.add_argument("--test-timeout", type=float, default=120.0, help="seconds one test may take")
    parser.add_argument("--reuse", default="", help="comma-separated kinds whose complete results from an "
                        "earlier run in --results (same Python) are reused, e.g. stock")  # fmt: skip
    parser.add_argument("--no-recheck", action="store_true", help="take the first run's outcomes as final")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments for every run (after --)")
    args = parser.parse_args()

    kinds = [k for k in args.kinds.split(",") if k]
    results: Path = args.results.resolve()  # the runs' working directory is the suite's root
    load_start = os.getloadavg()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "binding": os.environ.get("QTINTERBINDING"),
    }
    report["suites"] = {}
    ok = True
    for name in args.suites.split(","):
        suite = SUITES[name]
        root = fetch(suite, args.sdists.resolve(), results / "src")
        out_dir = results / name
        runs: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            saved = out_dir / f"{kind}.run.json"
            run = None
            if kind in args.reuse.split(",") and saved.exists():
                run = json.loads(saved.read_text(encoding="utf-8"))
                if run.get("python") != platform.python_version() or run["status"] != "ok":
                    run = None
            if run is None:
                run = run_kind(suite, kind, root, out_dir, args.test_timeout, args.pytest_args)
                run["python"] = platform.python_version()
                saved.write_text(json.dumps(run), encoding="utf-8")
            counts = dict(sorted(_counts(run).items()))
            print(
                f"[{name}] {kind}: {run['status']} in {run['seconds']} s {counts} loops {run['loops']}",
                flush=True,
            )
            runs[kind] = run
        first = compare({kind: run["tests"] for kind, run in runs.items()}, kinds)["regressions"]
        stock_only: dict[str, dict[str, Any]] = {}
        for kind, found in first.items():
            if found and not args.no_recheck:
                ids = sorted(found)
                where = out_dir / f"recheck-{kind}"
                again = {k: recheck(suite, k, ids, root, where, args.test_timeout, args.pytest_args)
                         for k in ("stock", kind)}  # fmt: skip
                for test_id, verdict in verdicts(found, again, kind).items():
                    found[test_id]["verdict"] = verdict
            for row in found.values():
                row.setdefault("verdict", "not rechecked")
                if not row["verdict"].startswith(NOT_COUNTED):
                    ok = False
            stock_only[kind] = found
        leaks = leaked_runnable_loops({kind: [run] for kind, run in runs.items()})
        for kind in kinds:
            if kind != "stock" and not runs[kind]["loops"].get("qtinter"):
                leaks.setdefault(kind, {})["(no qtinter loop was made at all)"] = 0
        ok = ok and not leaks and all(run["status"] == "ok" for run in runs.values())
        report["suites"][name] = {
            "version": suite.version,
            "runs": {
                kind: {k: v for k, v in run.items() if k != "tests"} | {"counts": dict(_counts(run))}
                for kind, run in runs.items()
            },
            "stock_only": stock_only,
            "leaks": leaks,
        }
    report["load"] = [", ".join(f"{x:.1f}" for x in load) for load in (load_start, os.getloadavg())]
    results.mkdir(parents=True, exist_ok=True)
    (results / "results.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(write_summary(results, report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
