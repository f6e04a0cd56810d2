"""The previewer on the built-in clip: startup to the first frame, seek latency, and the headless
main job with and without PNGs.

    python bench/vsengine_qt_preview.py [--binding PySide6|PyQt6] [--rounds 5] [--seeks 40]
                                        [--ab A_ROOT B_ROOT]

- startup: a fresh process (interpreter start, imports, QApplication, setup(), the window, the
  script) until the window's first ``frameShown``; wall time, in each of ``--rounds`` processes;
- seek: ``PreviewWindow.seek(n)`` to the ``frameShown(n)`` of that frame, for ``--seeks`` frames
  spread over the clip (each not rendered before, so none comes from a cache);
- demo: ``vsengine-qt preview --headless`` (the main job, ``hatch run demo``) with and without
  ``--png-dir``, interleaved, ``--rounds`` each: wall time and the CPU time of the process
  (user + system, which does not depend on the machine's load as much as wall time does).

With ``--ab A_ROOT B_ROOT`` (two checkouts of this repository, e.g. ``git worktree add /tmp/base
main``) every measurement runs once with each tree's packages first on ``PYTHONPATH``, A and B
interleaved round by round, and the medians of both sides and their ratio B/A are printed.

Timings vary with the machine's load: say how loaded it was (``uptime``) with the numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import asyncio, os, sys, time
t0 = float(sys.argv[1])
import importlib
importlib.import_module(os.environ["QTINTERBINDING"] + ".QtWidgets")
import qtinter
from vsengine_qt._qt import QtWidgets
from vsengine_qt import PreviewWindow, setup

async def main():
    with setup() as session:
        window = PreviewWindow(session.policy)
        window.resize(1000, 660)
        window.show()
        first = asyncio.get_running_loop().create_future()
        window.frameShown.connect(lambda n: first.done() or first.set_result(n))
        await first
        startup = time.time() - t0
        seeks = []
        count = int(sys.argv[2])
        for i in range(count):
            n = (i * 97 + 13) % 240
            if n == 0:
                n = 1
            shown = asyncio.get_running_loop().create_future()
            def on(m, shown=shown, n=n):
                if m == n and not shown.done():
                    shown.set_result(None)
            window.frameShown.connect(on)
            start = time.perf_counter()
            window.seek(n)
            await shown
            seeks.append(time.perf_counter() - start)
            window.frameShown.disconnect(on)
        window.close()
        print(startup, *seeks)

app = QtWidgets.QApplication(["bench"])
asyncio.run(main(), loop_factory=qtinter.new_event_loop)
"""


#: The source tree whose packages the children import (``--ab``), None: the installed ones.
_tree: str | None = None


def _environment(binding: str) -> dict[str, str]:
    env = dict(os.environ)
    env["QTINTERBINDING"] = binding
    env["QT_QPA_PLATFORM"] = "offscreen"
    if _tree is not None:
        packages = ("vsengine-qt", "vsengine-core", "qtinter")
        sources = [os.path.join(_tree, "packages", package, "src") for package in packages]
        env["PYTHONPATH"] = os.pathsep.join([*sources, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _window_round(binding: str, seeks: int) -> tuple[float, list[float]]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, repr(time.time()), str(seeks)],
        env=_environment(binding),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    values = [float(v) for v in out]
    return values[0], values[1:]


def _demo_round(binding: str, png_dir: str | None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    args = [sys.executable, "-m", "vsengine_qt", "preview", "--headless"]
    if png_dir is not None:
        args += ["--png-dir", png_dir]
    subprocess.run(args, env=_environment(binding), capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(values) * 1000:7.1f} ms, p90 {p90 * 1000:7.1f} ms (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--binding", default="PySide6", choices=["PySide6", "PyQt6"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeks", type=int, default=40)
    parser.add_argument("--ab", nargs=2, metavar=("A_ROOT", "B_ROOT"), help="compare two checkouts")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f} (2-core machine)", flush=True)
    if args.ab:
        _compare(args.binding, args.rounds, args.seeks, args.ab)
        return

    startups: list[float] = []
    seeks: list[float] = []
    for _ in range(args.rounds):
        startup, latencies = _window_round(args.binding, args.seeks)
        startups.append(startup)
        seeks += latencies
    print(f"{args.binding} startup to the first frame: {_ms(startups)}")
    print(f"{args.binding} seek to frameShown:         {_ms(seeks)}")

    plain: list[tuple[float, float]] = []
    pngs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.rounds):  # interleaved: the load changes alike for both
            plain.append(_demo_round(args.binding, None))
            pngs.append(_demo_round(args.binding, os.path.join(scratch, "png")))
    for name, runs in (("without --png-dir", plain), ("with --png-dir   ", pngs)):
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(
            f"{args.binding} demo {name}: wall median {statistics.median(walls):.2f} s, "
            f"CPU median {statistics.median(cpus):.2f} s (240 frames)"
        )
    rate = statistics.median(w for w, _ in plain) / statistics.median(w for w, _ in pngs)
    cpu_rate = statistics.median(c for _, c in plain) / statistics.median(c for _, c in pngs)
    print(
        f"{args.binding} demo rate with PNGs / without: {rate:.2f}x by wall time, {cpu_rate:.2f}x by CPU time"
    )


def _compare(binding: str, rounds: int, seeks: int, roots: list[str]) -> None:
    """Every measurement with A's and with B's packages, interleaved round by round."""
    global _tree
    sides = {"A": roots[0], "B": roots[1]}
    results: dict[str, dict[str, list[float]]] = {side: {} for side in sides}

    def add(side: str, name: str, values: list[float]) -> None:
        results[side].setdefault(name, []).extend(values)

    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(rounds):
            for side, root in sides.items():
                _tree = root
                startup, latencies = _window_round(binding, seeks)
                add(side, "startup s", [startup])
                add(side, "seek ms", [v * 1000 for v in latencies])
                wall, cpu = _demo_round(binding, None)
                add(side, "demo wall s", [wall])
                add(side, "demo CPU s", [cpu])
                wall, cpu = _demo_round(binding, os.path.join(scratch, "png"))
                add(side, "demo+PNG wall s", [wall])
                add(side, "demo+PNG CPU s", [cpu])
    _tree = None
    print(f"{binding}, {rounds} interleaved rounds; A = {roots[0]}, B = {roots[1]}; medians:")
    for name in results["A"]:
        a, b = statistics.median(results["A"][name]), statistics.median(results["B"][name])
        print(f"  {name:16} A {a:8.2f}  B {b:8.2f}  B/A {b / a:5.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
