"""Run one benchmark in one configuration, in this (fresh) process, and print the result as JSON.

    python -m bench.worker CONFIG METRIC DURATION [--profile FILE]

With ``BENCH_CLOCK=cpu`` in the environment the single-threaded throughput benchmarks are timed
with the CPU clock of the loop's thread (see ``bench._metrics.use_cpu_clock``).

``--profile FILE`` runs the benchmark under cProfile, writes the stats to FILE (read them with
``python -m pstats FILE``) and prints the 30 most expensive functions (own time) to stderr.
Profiling slows Python code several-fold: use it to see where time goes, not for the numbers.

The last line of stdout is a JSON object: the metric's numbers, or ``{"unavailable": reason}``
when the configuration cannot run here, or ``{"error": text}`` when the benchmark failed.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

MARKER = "BENCH-RESULT "


def run(config: str, metric: str, duration: float) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from bench._configs import CONFIGS, Ctx, Unavailable
    from bench._metrics import METRICS, use_cpu_clock

    spec = METRICS[metric]
    if spec.cpu_clock and os.environ.get("BENCH_CLOCK") == "cpu":
        use_cpu_clock()
    if spec.needs_qt and config.startswith("asyncio"):
        return {"unavailable": "needs Qt"}

    async def main(ctx: Ctx) -> dict[str, float]:
        result = await spec.func(ctx, duration)
        if metric == "signal":
            return {**result, "slot_kind": ctx.slot_kind}  # type: ignore[dict-item]
        return result

    try:
        return CONFIGS[config](main)
    except Unavailable as exc:
        return {"unavailable": str(exc)}
    except NotImplementedError as exc:
        return {"unavailable": f"not implemented by the loop: {exc!r}"}


def _profiled(path: str, config: str, metric: str, duration: float) -> dict[str, Any]:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return run(config, metric, duration)
    finally:
        profiler.disable()
        profiler.dump_stats(path)
        pstats.Stats(path, stream=sys.stderr).sort_stats("tottime").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    profile_to = None
    if len(args) == 5 and args[3] == "--profile":
        profile_to, args = args[4], args[:3]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    config, metric, duration = args[0], args[1], float(args[2])
    try:
        if profile_to is None:
            result = run(config, metric, duration)
        else:
            result = _profiled(profile_to, config, metric, duration)
    except BaseException as exc:  # report any failure as data: the runner keeps going
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.flush()
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
