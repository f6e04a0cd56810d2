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

    python -m bench.instructions A_TREE B_TREE --frames [--binding PyQt6] [--methods ref stream async-for]

``--frames`` counts vsengine-qt's frame delivery with a reused frame (``BlankClip(keep=True)``,
prefetch 16, in a real application on qtinter's guest loop): ``ref`` is the reference of
``bench/vsengine_qt_frames.py`` (each completion on VapourSynth's threads requests the next frame),
``stream`` a ``FrameStream`` with a Python slot on ``frameReady``, ``async-for`` ``async for`` over
``frames()``. One process per tree runs every method after a warm-up; callgrind dumps its counters
around each method (``--dump-before=getpgid``, marked with ``os.getpgid``), so a cell is the
instructions of the whole process (all threads) for the method's frames, divided by them.
``A_TREE``/``B_TREE`` are repository trees (their ``packages/*/src`` go on ``PYTHONPATH``); the
interpreter needs VapourSynth and the binding (e.g. ``.nox/tests_qt-3-12-pyqt6/bin/python``).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import vapoursynth as vs

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


FRAME_METHODS = ("ref", "stream", "async-for")


def _frames_child(binding: str, count: int, methods: list[str]) -> None:
    import importlib

    importlib.import_module(f"{binding}.QtWidgets")
    import vsengine_qt
    from bench.vsengine_qt_frames import clip_in_a_new_environment, request_in_a_chain
    from vsengine_qt._qt import QtCore, QtWidgets, exec_

    app = QtWidgets.QApplication([])
    prefetch = 16

    def ref(node: vs.VideoNode, count: int) -> None:
        request_in_a_chain(node, count, prefetch).wait(600)

    def in_app(start: Any) -> None:
        QtCore.QTimer.singleShot(0, lambda: start(app.quit))
        exec_(app)

    def stream(node: vs.VideoNode, count: int) -> None:
        received = [0]
        streams: list[vsengine_qt.FrameStream] = []

        def start(finish: Any) -> None:
            stream = vsengine_qt.FrameStream(node, prefetch=prefetch)
            streams.append(stream)

            def on_frame(n: int, frame: object, seconds: float) -> None:
                received[0] += 1

            stream.frameReady.connect(on_frame)
            stream.finished.connect(finish)
            stream.seek(0, count)

        in_app(start)
        streams[0].close()
        assert received[0] == count, received

    def async_for(node: vs.VideoNode, count: int) -> None:
        received = [0]

        def start(finish: Any) -> None:
            async def consume() -> None:
                async with vsengine_qt.frames(node, 0, count, prefetch=prefetch) as iterator:
                    async for _ in iterator:
                        received[0] += 1
                finish()

            tasks.append(session.asyncio_loop.create_task(consume()))

        tasks: list[Any] = []
        in_app(start)
        assert received[0] == count, received

    run = {"ref": ref, "stream": stream, "async-for": async_for}
    with vsengine_qt.setup() as session:
        for method in methods:  # warm-up
            with clip_in_a_new_environment(session.policy, 300) as node:
                run[method](node, 300)
        for method in methods:
            with clip_in_a_new_environment(session.policy, count) as node:
                os.getpgid(0)  # callgrind dumps here (--dump-before=getpgid): what came before
                run[method](node, count)
                os.getpgid(0)  # and here: this method's instructions


def _frame_instructions(tree: Path, binding: str, count: int, methods: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=_pythonpath(tree), QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=getpgid", f"--callgrind-out-file={tmp}/out",
             sys.executable, "-m", "bench.instructions", "--run-frames", binding, str(count), *methods],
            env=env, capture_output=True, text=True, timeout=3600, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"frames on {tree} failed:\n{proc.stderr[-2000:]}")
        dumps = sorted(glob.glob(f"{tmp}/out.*"), key=lambda name: int(name.rsplit(".", 1)[1]))
        totals = []
        for name in dumps:
            with open(name, encoding="utf-8") as f:
                totals.append(next(int(line.split()[1]) for line in f if line.startswith("totals:")))
    # Dump 1: start-up and warm-up; then for each method its run (even dumps) and what follows it.
    return {method: totals[2 * i + 1] / count for i, method in enumerate(methods)}


def _pythonpath(src: Path) -> str:
    """``src`` itself, or for a repository tree its packages' ``src`` directories."""
    packages = sorted((src / "packages").glob("*/src"))
    return os.pathsep.join(str(each.resolve()) for each in packages) if packages else str(src.resolve())


def _instructions(src: Path, workload: str, count: int, mode: str, binding: str, budget: float) -> int:
    env = dict(os.environ, PYTHONPATH=_pythonpath(src), QT_QPA_PLATFORM="offscreen")
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
    if argv[:1] == ["--run-frames"]:
        _frames_child(argv[1], int(argv[2]), argv[3:])
        return 0
    if argv[:1] == ["--run"]:
        workload, count, mode, binding, budget = argv[1:6]
        _child(workload, int(count), mode, binding, float(budget))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "a", type=Path, help="directory containing the baseline qtinter package (--frames: a repository tree)"
    )
    parser.add_argument(
        "b",
        type=Path,
        help="directory containing the candidate qtinter package (--frames: a repository tree)",
    )
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--modes", nargs="+", choices=["owner", "guest"], default=["owner"])
    parser.add_argument("--binding", default="PyQt6")
    parser.add_argument("--budget", type=float, default=0.3, help="the pump's budget under valgrind (s)")
    parser.add_argument("--frames", action="store_true", help="count vsengine-qt's frame delivery instead")
    parser.add_argument("--methods", nargs="+", choices=FRAME_METHODS, default=list(FRAME_METHODS))
    parser.add_argument("--count", type=int, default=2000, help="frames per method (--frames)")
    args = parser.parse_args(argv)
    if args.frames:
        counted = [
            _frame_instructions(tree, args.binding, args.count, args.methods) for tree in (args.a, args.b)
        ]
        print(
            "| method | A instructions/frame | B instructions/frame | B/A | A: ref/method | B: ref/method |"
        )
        print("|---|---|---|---|---|---|")
        for method in args.methods:
            a, b = (each[method] for each in counted)
            ratios = [f"{each['ref'] / each[method]:.3f}" if "ref" in each else "" for each in counted]
            print(f"| {method} | {a:,.0f} | {b:,.0f} | {b / a:.3f} | {ratios[0]} | {ratios[1]} |", flush=True)
        return 0
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
