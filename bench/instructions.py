"""Instructions per operation of qtinter's hot paths, for two source trees (callgrind).

    python -m bench.instructions A_SRC B_SRC [--workloads sleep0 call_soon queue signal]
                                             [--modes owner guest] [--binding PyQt6]

Instruction counts do not depend on the machine's load, so a difference of 1% is real, where a
wall- or CPU-clock A/B (``python -m bench.ab``) on a shared machine varies by 5-10%. Each cell runs
the workload twice under ``valgrind --tool=callgrind`` (``SMALL`` and ``LARGE`` operations) and
reports (instructions(LARGE) - instructions(SMALL)) / (LARGE - SMALL): the cost of one operation,
start-up and tear-down cancelled out. Under valgrind Python runs about 75x slower, so the pump's
4 ms budget would end every pump after a handful of iterations; ``--budget`` (default 0.3 s)
scales it back to the length of a real pump, so that the per-pump costs weigh what they weigh in
a real run. Needs valgrind (installed on this project's machines). A cell takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SMALL, LARGE = 2048, 12288

#: One workload per hot path; run in this process by ``--run`` (the child side).
WORKLOADS = ("sleep0", "call_soon", "queue", "signal")


def _child(workload: str, count: int, mode: str, binding: str, budget: float) -> None:
    import asyncio
    import importlib

    qt_core = importlib.import_module(f"{binding}.QtCore")
    import qtinter
    from qtinter import _base_events

    _base_events.PUMP_BUDGET = budget
    app = qt_core.QCoreApplication([])
    signal_factory = getattr(qt_core, "pyqtSignal", None) or qt_core.Signal

    class Emitter(qt_core.QObject):  # type: ignore[misc,name-defined]
        fired = signal_factory(int)

    async def sleep0() -> None:
        for _ in range(count):
            await asyncio.sleep(0)

    async def call_soon() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        left = [count]

        def callback() -> None:
            left[0] -= 1
            if left[0]:
                loop.call_soon(callback)
            else:
                done.set_result(None)

        loop.call_soon(callback)
        await done

    async def queue() -> None:
        ping: asyncio.Queue[int] = asyncio.Queue()
        pong: asyncio.Queue[int] = asyncio.Queue()

        async def echo() -> None:
            for _ in range(count):
                await pong.put(await ping.get())

        task = asyncio.ensure_future(echo())
        for i in range(count):
            await ping.put(i)
            await pong.get()
        await task

    async def signal() -> None:
        # As bench's signal row: batches of 64 emissions to an asyncslot that yields once.
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        emitter = Emitter()
        completed = [0]

        async def slot(_value: int) -> None:
            await asyncio.sleep(0)
            completed[0] += 1
            if completed[0] % 64 == 0:
                if completed[0] >= count:
                    done.set_result(None)
                else:
                    loop.call_soon(emit)

        def emit() -> None:
            for i in range(64):
                emitter.fired.emit(i)

        emitter.fired.connect(qtinter.asyncslot(slot))
        loop.call_soon(emit)
        await done

    main = {"sleep0": sleep0, "call_soon": call_soon, "queue": queue, "signal": signal}[workload]
    if mode == "owner":
        loop = qtinter.new_event_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
    else:
        with qtinter.using_asyncio_from_qt() as loop:
            task = loop.create_task(main())
            task.add_done_callback(lambda _t: app.exit(0))
            (getattr(app, "exec", None) or app.exec_)()


def _instructions(src: Path, workload: str, count: int, mode: str, binding: str, budget: float) -> int:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()), QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable,
             "-m", "bench.instructions", "--run", workload, str(count), mode, binding, str(budget)],
            env=env, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"{workload} {mode} on {src} failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run"]:
        workload, count, mode, binding, budget = argv[1:6]
        _child(workload, int(count), mode, binding, float(budget))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("a", type=Path, help="directory containing the baseline qtinter package")
    parser.add_argument("b", type=Path, help="directory containing the candidate qtinter package")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--modes", nargs="+", choices=["owner", "guest"], default=["owner"])
    parser.add_argument("--binding", default="PyQt6")
    parser.add_argument("--budget", type=float, default=0.3, help="the pump's budget under valgrind (s)")
    args = parser.parse_args(argv)
    print("| workload | mode | A instructions/op | B instructions/op | B/A |")
    print("|---|---|---|---|---|")
    for workload in args.workloads:
        for mode in args.modes:
            per_op = []
            for src in (args.a, args.b):
                small = _instructions(src, workload, SMALL, mode, args.binding, args.budget)
                large = _instructions(src, workload, LARGE, mode, args.binding, args.budget)
                per_op.append((large - small) / (LARGE - SMALL))
            a, b = per_op
            print(f"| {workload} | {mode} | {a:,.0f} | {b:,.0f} | {b / a:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
