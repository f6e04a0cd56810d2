"""A/B-compare two qtinter source trees on a few benchmarks, interleaved, in fresh processes.

    python -m bench.ab A_SRC B_SRC [--configs qtinter-owner-pyqt6 ...] [--metrics call_soon ...]
                                   [--runs 8] [--duration 0.25] [--clock cpu|wall]

A_SRC and B_SRC are directories that contain the ``qtinter`` package (e.g.
``packages/qtinter/src`` of two work trees: ``git worktree add /tmp/base HEAD`` gives the committed
state next to your edits). Each run puts one of them first on ``PYTHONPATH``; runs alternate
A, B, A, B, ... and plain asyncio, so drift of the machine hits both sides alike. With
``--clock cpu`` (the default) the single-threaded throughput rows are timed by the loop thread's
CPU time, which is what makes differences of a few percent visible on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bench._metrics import METRICS
from bench.runner import reference_config, run_one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="directory containing the baseline qtinter package")
    parser.add_argument("b", type=Path, help="directory containing the candidate qtinter package")
    parser.add_argument("--configs", nargs="+", default=["qtinter-owner-pyqt6"])
    parser.add_argument("--metrics", nargs="+", default=["call_soon", "sleep0", "queue", "signal"])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--duration", type=float, default=0.25)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args(argv)
    for side in (args.a, args.b):
        if not (side / "qtinter" / "__init__.py").is_file():
            parser.error(f"{side} does not contain a qtinter package")
    unknown = [m for m in args.metrics if m not in METRICS]
    if unknown:
        parser.error(f"unknown metrics {unknown}; choose from {list(METRICS)}")

    results: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    original = os.environ.get("PYTHONPATH")
    try:
        for run in range(1, args.runs + 1):
            for metric in args.metrics:
                duration = args.duration * 8 if METRICS[metric].idle else args.duration
                for config in args.configs:
                    for side, src in (("A", args.a), ("B", args.b)):
                        os.environ["PYTHONPATH"] = os.pathsep.join(
                            filter(None, [str(src.resolve()), original])
                        )
                        result = run_one(
                            config, metric, duration, timeout=60 + 10 * duration, clock=args.clock
                        )
                        results.setdefault((config, metric, side), []).append(result)
                if not METRICS[metric].needs_qt:
                    for reference in sorted(
                        {reference_config(METRICS[metric], c) or "" for c in args.configs}
                    ):
                        if reference:
                            result = run_one(
                                reference, metric, duration, timeout=60 + 10 * duration, clock=args.clock
                            )
                            results.setdefault((reference, metric, "ref"), []).append(result)
            print(f"run {run}/{args.runs} done", file=sys.stderr, flush=True)
    finally:
        if original is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = original

    print(f"{args.runs} interleaved runs per cell, medians, clock={args.clock}\n")
    print("| config | metric | A | B | B/A | B vs plain asyncio |")
    print("|---|---|---|---|---|---|")
    for metric in args.metrics:
        for value in METRICS[metric].values:
            for config in args.configs:
                reference = reference_config(METRICS[metric], config) or ""
                ref = _median(results.get((reference, metric, "ref"), []), value.key)
                a = _median(results.get((config, metric, "A"), []), value.key)
                b = _median(results.get((config, metric, "B"), []), value.key)
                ratio = f"{b / a:.3f}" if a and b else "n/a"
                vs_ref = f"{b / ref:.2f}x" if b and ref else "n/a"
                label = f"{value.label} ({value.unit})"
                print(f"| {config} | {label} | {_fmt(a)} | {_fmt(b)} | {ratio} | {vs_ref} |")
    errors = [(k, r) for k, rs in results.items() for r in rs if "error" in r]
    for key, result in errors[:5]:
        print(f"ERROR {key}: {result['error']}", file=sys.stderr)
    return 1 if errors else 0


def _median(runs: list[dict[str, float]], key: str) -> float | None:
    values = [float(r[key]) for r in runs if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def _fmt(number: float | None) -> str:
    return "n/a" if number is None else f"{number:,.1f}"


if __name__ == "__main__":
    sys.exit(main())
