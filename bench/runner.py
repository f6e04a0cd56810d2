"""Run every benchmark in every configuration, interleaved over several rounds, and print a table.

    python -m bench [--quick] [--rounds N] [--duration S] [--idle S]
                    [--configs PATTERN ...] [--metrics NAME ...] [--json FILE] [--markdown FILE]

Each (configuration, metric) pair runs in a fresh ``python -m bench.worker`` process. A round runs
every pair once, in a shuffled order, so slow drift of the machine (other load, thermal state)
spreads over all configurations instead of biasing one; the table shows the median over rounds.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._configs import CONFIGS, QTINTER_CONFIGS
from bench._metrics import METRICS, Metric, Value
from bench.worker import MARKER

ROOT = Path(__file__).resolve().parent.parent
#: glibc malloc settings every worker gets (unless GLIBC_TUNABLES is set already or --malloc-default).
#: glibc adapts its mmap threshold to the process's allocation history, so whether asyncio's
#: 256 KiB ``recv`` buffer costs mmap + mremap + munmap (and page faults) on every read differs
#: from process to process: with a Qt binding loaded it usually does, in a bare interpreter usually
#: not, which halves loopback TCP round trips for reasons that have nothing to do with the loop.
#: Fixed thresholds give every configuration the same allocator behaviour.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=16777216"
#: Configurations that are only the reference of ``binding_reference`` metrics.
BINDING_REFERENCES = {"pyqt6": "asyncio+pyqt6", "pyside6": "asyncio+pyside6"}


@dataclass
class Results:
    #: (config, metric) -> one dict per round.
    runs: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: "median" over rounds, or "best" (the best round: max where higher is better, else min).
    stat: str = "median"

    def add(self, config: str, metric: str, result: dict[str, Any]) -> None:
        self.runs.setdefault((config, metric), []).append(result)

    def status(self, config: str, metric: str) -> str | None:
        """'unavailable: ...' / 'error: ...' when no round produced numbers, else None."""
        runs = self.runs.get((config, metric), [])
        if any("unavailable" not in r and "error" not in r for r in runs):
            return None
        for r in runs:
            if "unavailable" in r:
                return f"unavailable: {r['unavailable']}"
        for r in runs:
            if "error" in r:
                return f"error: {r['error']}"
        return "not run"

    def value(self, config: str, metric: str, key: str) -> float | None:
        """The number the table shows: the median (or best) over the rounds."""
        values = [
            float(r[key])
            for r in self.runs.get((config, metric), [])
            if key in r and isinstance(r[key], (int, float))
        ]
        if not values:
            return None
        if self.stat == "best":
            spec = next(v for v in METRICS[metric].values if v.key == key)
            return max(values) if spec.higher_is_better else min(values)
        return statistics.median(values)

    def spread(self, config: str, metric: str, key: str) -> float | None:
        """(max - min) / median over the rounds, a rough noise indicator."""
        values = [float(r[key]) for r in self.runs.get((config, metric), []) if key in r]
        if len(values) < 2 or not statistics.median(values):
            return None
        return (max(values) - min(values)) / abs(statistics.median(values))


def _binding(config: str) -> str | None:
    for binding in BINDING_REFERENCES:
        if config.endswith(binding):
            return binding
    return None


def reference_config(metric: Metric, config: str) -> str | None:
    """The configuration whose number ``config``'s is divided by for the ratio."""
    if not metric.binding_reference:
        return "asyncio"
    binding = _binding(config)
    return BINDING_REFERENCES[binding] if binding else None


def run_one(
    config: str, metric: str, duration: float, timeout: float, *, pin_malloc: bool = True, clock: str = "wall"
) -> dict[str, Any]:
    env = dict(os.environ)
    env["BENCH_CLOCK"] = clock
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if pin_malloc:
        env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "bench.worker", config, metric, repr(duration)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            if "error" in result and proc.stderr:
                result["stderr"] = proc.stderr[-2000:]
            return result
    return {"error": f"exit code {proc.returncode}, no result; stderr: {proc.stderr[-2000:]}"}


def plan(configs: list[str], metrics: list[str]) -> list[tuple[str, str]]:
    """Every (config, metric) pair one round runs, references included."""
    pairs: list[tuple[str, str]] = []
    for name in metrics:
        metric = METRICS[name]
        for config in configs:
            if config in BINDING_REFERENCES.values():
                continue
            if metric.needs_qt and config == "asyncio":
                continue
            if config == "asyncio" and metric.binding_reference:
                wanted = sorted({b for c in configs if (b := _binding(c)) is not None})
                pairs.extend((BINDING_REFERENCES[b], name) for b in wanted)
                continue
            pairs.append((config, name))
    return pairs


# --------------------------------------------------------------------------- formatting


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M/s"
        if value >= 1e3:
            return f"{value / 1e3:.1f}k/s"
        return f"{value:.0f}/s"
    if unit == "us":
        return f"{value:.0f} us"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "MB/s":
        return f"{value:.0f} MB/s"
    return f"{value:.3g} {unit}"


def target_met(value: Value, number: float, reference: float | None) -> bool | None:
    if value.target is None:
        return None
    kind, bound = value.target
    if kind == "abs<":
        return number < bound
    if reference is None or reference == 0:
        return None
    ratio = number / reference
    if kind == "ratio>=":
        return ratio >= bound
    if kind == "ratio<=":
        return ratio <= bound
    if kind == "idle":  # no higher than plain asyncio, with 1 ms of measurement noise allowed
        return number <= reference * bound + 1.0
    raise ValueError(f"unknown target kind {kind!r}")


def describe_target(value: Value) -> str:
    if value.target is None:
        return ""
    kind, bound = value.target
    return {
        "abs<": f"< {bound:g} {value.unit}",
        "ratio>=": f">= {bound:g}x",
        "ratio<=": f"<= {bound:g}x",
        "idle": "<= plain (+1 ms noise)",
    }[kind]


def table(results: Results, configs: list[str], metrics: list[str], *, cpu_clock: bool = False) -> str:
    shown = [c for c in configs if c not in BINDING_REFERENCES.values()]
    head = ["metric", *shown]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in metrics:
        metric = METRICS[name]
        for value in metric.values:
            arrow = "higher is better" if value.higher_is_better else "lower is better"
            clock = ", cpu" if cpu_clock and metric.cpu_clock else ""
            cells = [f"{value.label} ({arrow}{clock})"]
            for config in shown:
                cells.append(_cell(results, metric, value, config, configs))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(results: Results, metric: Metric, value: Value, config: str, configs: list[str]) -> str:
    if config == "asyncio":
        if metric.needs_qt:
            return "(no Qt)"
        if metric.binding_reference:
            parts = []
            for binding, ref in BINDING_REFERENCES.items():
                if (ref, metric.name) in results.runs:
                    number = results.value(ref, metric.name, value.key)
                    parts.append(f"{fmt(number, value.unit)} ({binding})")
            return " / ".join(parts) or "n/a"
        number = results.value(config, metric.name, value.key)
        return fmt(number, value.unit) if number is not None else _status(results, config, metric.name)
    number = results.value(config, metric.name, value.key)
    if number is None:
        return _status(results, config, metric.name)
    text = fmt(number, value.unit)
    ref_config = reference_config(metric, config)
    reference = results.value(ref_config, metric.name, value.key) if ref_config else None
    if reference:
        text += f" ({number / reference:.2f}x)"
    if config in QTINTER_CONFIGS and target_met(value, number, reference) is False:
        text = f"**{text}**"
    return text


def _status(results: Results, config: str, metric: str) -> str:
    status = results.status(config, metric) or "n/a"
    if status.startswith("unavailable"):
        if "not implemented" in status:
            return "not supported"
        return "n/a"
    return "error" if status.startswith("error") else status


def targets_table(results: Results, configs: list[str], metrics: list[str]) -> str:
    shown = [c for c in configs if c in QTINTER_CONFIGS]
    if not shown:
        return ""
    lines = [
        "| target | " + " | ".join(shown) + " |",
        "|" + "---|" * (len(shown) + 1),
    ]
    misses = 0
    for name in metrics:
        metric = METRICS[name]
        for value in metric.values:
            if value.target is None:
                continue
            cells = [f"{value.label}: {describe_target(value)}"]
            for config in shown:
                number = results.value(config, name, value.key)
                ref_config = reference_config(metric, config)
                reference = results.value(ref_config, name, value.key) if ref_config else None
                if number is None:
                    cells.append("n/a")
                    continue
                met = target_met(value, number, reference)
                cells.append({True: "met", False: "MISSED", None: "?"}[met])
                misses += met is False
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{misses} target cell(s) missed.")
    return "\n".join(lines)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(args: argparse.Namespace, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    versions = ", ".join(
        f"{d} {_version(d)}" for d in ["qtinter", "PyQt6", "PySide6-Essentials", "PySide6-Addons", "qasync"]
    )
    return "\n".join(
        [
            f"- Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs; {versions}",
            f"- {args.rounds} round(s), {args.duration:g} s of work per benchmark ({args.idle:g} s idle), "
            "each in a fresh process, interleaved; "
            + ("medians over rounds" if args.stat == "median" else "best round per cell (--stat best)"),
            (
                "- throughput rows marked (cpu) are per CPU second of the loop thread (--clock cpu)"
                if args.clock == "cpu"
                else "- all rates are per wall-clock second"
            ),
            "- glibc malloc thresholds "
            + ("left to glibc" if args.malloc_default else f"pinned in every worker ({MALLOC_TUNABLES})"),
            f"- load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} "
            "(above ~0.3 other work shared the machine: treat the numbers as noisy)",
            "- ratios are to plain asyncio (signal: to plain asyncio emitting the same binding's signal); "
            "**bold** = a qtinter cell that misses its target",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, 0.1 s per benchmark")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5; 1 with --quick)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of work per benchmark (0.5)")
    parser.add_argument("--idle", type=float, default=None, help="seconds of the idle-CPU benchmark (2.0)")
    parser.add_argument("--configs", nargs="+", default=["*"], help="configuration name patterns")
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=list(METRICS))
    parser.add_argument("--json", type=Path, help="write every raw result to this file")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: time the single-threaded throughput rows by the loop thread's CPU time "
        "(robust on a shared machine; the other rows stay wall-clock)",
    )
    parser.add_argument(
        "--stat",
        choices=["median", "best"],
        default="median",
        help="what the table shows per cell: the median over rounds, or the best round "
        "(the least disturbed one, useful on a shared machine)",
    )
    parser.add_argument(
        "--malloc-default",
        action="store_true",
        help="do not pin glibc's malloc thresholds in the workers (see MALLOC_TUNABLES)",
    )
    parser.add_argument(
        "--from-json", type=Path, help="measure nothing: print the tables of a run saved with --json"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the per-round shuffle")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.duration is None:
        args.duration = 0.1 if args.quick else 0.5
    if args.idle is None:
        args.idle = 0.3 if args.quick else 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = [c for c in CONFIGS if any(fnmatch.fnmatch(c, p) for p in args.configs)]
    if "asyncio" not in configs:
        configs.insert(0, "asyncio")  # every ratio needs it
    configs += [ref for ref in BINDING_REFERENCES.values() if ref not in configs]
    pairs = plan(configs, args.metrics)
    rng = random.Random(args.seed)
    results = Results(stat=args.stat)
    skip: set[tuple[str, str]] = set()
    load_before: tuple[float, ...] = os.getloadavg()
    load_after: tuple[float, ...] = load_before
    started = time.monotonic()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        for name in ("rounds", "duration", "idle", "clock", "malloc_default"):
            setattr(args, name, saved["args"].get(name, getattr(args, name)))
        for run in saved["runs"]:
            results.runs[(run["config"], run["metric"])] = run["rounds"]
        load = saved.get("load", [float("nan"), float("nan")])
        load_before, load_after = (load[0],), (load[1],)
    for round_no in range(1, 0 if args.from_json else args.rounds + 1):
        order = [p for p in pairs if p not in skip]
        rng.shuffle(order)
        for i, (config, metric) in enumerate(order, 1):
            duration = args.idle if METRICS[metric].idle else args.duration
            result = run_one(
                config,
                metric,
                duration,
                timeout=60 + 10 * duration,
                pin_malloc=not args.malloc_default,
                clock=args.clock,
            )
            results.add(config, metric, result)
            if "unavailable" in result:
                skip.add((config, metric))
            brief = {
                k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items() if k != "stderr"
            }
            print(
                f"[round {round_no}/{args.rounds} {i}/{len(order)} {time.monotonic() - started:5.0f}s] "
                f"{config} {metric}: {json.dumps(brief)[:160]}",
                file=sys.stderr,
                flush=True,
            )
    if not args.from_json:
        load_after = os.getloadavg()
    text = "\n\n".join(
        filter(
            None,
            [
                header(args, load_before, load_after),
                table(results, configs, args.metrics, cpu_clock=args.clock == "cpu"),
                targets_table(results, configs, args.metrics),
                _notes(results, configs),
            ],
        )
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        raw = [{"config": c, "metric": m, "rounds": r} for (c, m), r in sorted(results.runs.items())]
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": None, "markdown": None, "from_json": None},
                    "load": [load_before[0], load_after[0]],
                    "runs": raw,
                },
                indent=1,
                default=str,
            )
        )
    errors = [(c, m) for (c, m) in results.runs if (results.status(c, m) or "").startswith("error")]
    for config, metric in errors:
        print(f"ERROR {config} {metric}: {results.runs[(config, metric)][-1]}", file=sys.stderr)
    return 1 if errors else 0


def _notes(results: Results, configs: list[str]) -> str:
    notes = []
    for config in configs:
        for run in results.runs.get((config, "signal"), []):
            if "slot_kind" in run:
                notes.append(f"- signal slot in `{config}`: {run['slot_kind']}")
                break
    by_status: dict[tuple[str, str], list[str]] = {}
    for config, metric in sorted(results.runs):
        status = results.status(config, metric)
        if status and "needs Qt" not in status:
            by_status.setdefault((config, status[:300]), []).append(metric)
    for (config, status), metrics in by_status.items():
        notes.append(f"- `{config}` ({', '.join(metrics)}): {status}")
    return "\n".join(notes)


if __name__ == "__main__":
    sys.exit(main())
