"""Frames/s delivered to the Qt main thread, three ways, on the same clip with the same concurrency.

1. ``vs-threads``: the ceiling. Frames are requested and counted on VapourSynth's own threads (each
   completion requests the next frame); nothing reaches Qt.
2. ``vsengine-qt``: ``vsengine_qt.FrameStream`` inside a real application (``vsengine_qt.setup()``,
   qtinter guest mode, ``app.exec()``): every frame is delivered to the Qt main thread, in order,
   through the coalesced drain; ``async-for``: the same through ``async for`` over
   ``vsengine_qt.frames()`` in a task of the guest loop.
3. ``signal-per-frame``: what previewers do today: each completion emits a Qt signal (a queued
   connection to the main thread) carrying the frame; the slot counts it and requests the next.
4. ``handover-floor``: the least any delivery to the Qt main thread can do, for comparison: each
   completion appends the frame to a deque, the first of a burst emits one queued no-argument
   signal, and its slot takes every waiting frame, counts it and requests the next (no ordering,
   no asyncio, no release bookkeeping). ``handover-chain``: the same hand-over, but the completions
   request the next frame themselves (under a lock, as ``vs-threads``); the Qt thread only counts.

Clips: 1920x1080 YUV420P8 BlankClip with real frames, and the same with ``keep=True`` (one reused
frame: the overhead-bound case). Rounds alternate the methods; the median of the rounds is reported.

    python bench/vsengine_qt_frames.py [--binding PySide6] [--rounds 5] [--prefetch 16] [--json out.json]

Run it on a quiet machine: the numbers are only as stable as the CPU is idle.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import json
import os
import statistics
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import vapoursynth as vs

    from vsengine.policy import Policy

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Frames per measurement by clip: about one to two seconds each on two cores.
FRAMES = {"real": 3000, "keep": 30000}


def request_in_a_chain(node: vs.VideoNode, count: int, prefetch: int) -> threading.Event:
    """The reference method: requests frames 0..count-1 of `node`, `prefetch` at a time, each
    completion (on VapourSynth's thread) requesting the next; nothing reaches Qt. Returns the event
    set when the last frame has completed. Also bench/instructions.py's reference."""
    lock = threading.Lock()
    done = threading.Event()
    state = {"next": prefetch, "completed": 0}

    def completed(frame: vs.VideoFrame | None, error: BaseException | None) -> None:
        with lock:
            state["completed"] += 1
            if state["completed"] == count:
                done.set()
            n = state["next"]
            if n >= count:
                return
            state["next"] = n + 1
        node.get_frame_async(n, completed)

    for n in range(min(prefetch, count)):
        node.get_frame_async(n, completed)
    return done


@contextlib.contextmanager
def clip_in_a_new_environment(policy: Policy, length: int, *, keep: bool = True) -> Iterator[vs.VideoNode]:
    """A 1920x1080 YUV420P8 BlankClip in an environment of its own, disposed afterwards.

    Every measurement gets one: no frame cached by an earlier measurement counts, and its core's
    worker threads are new. vsengine's frame helpers make the worker threads they receive frames on
    keep their Python thread state (vsengine._compat), which makes later callbacks on those threads
    cheaper: the reference must run on threads that never met them, as a plain application's do.
    Also bench/instructions.py's."""
    import vapoursynth as vs  # here, not at the top: after the Qt binding (see main())

    with policy.new_environment() as env:
        with env.use():
            clip: vs.VideoNode = vs.core.std.BlankClip(
                width=1920, height=1080, format=vs.YUV420P8, length=length, keep=keep
            )
        try:
            yield clip
        finally:
            del clip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--binding", default=os.environ.get("QTINTERBINDING", "PySide6"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--prefetch", type=int, default=16, help="frames in flight, the same for every method"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the frame counts (e.g. 0.1 for a smoke run)"
    )
    parser.add_argument(
        "--clips", nargs="+", choices=list(FRAMES), default=list(FRAMES), help="which clips to measure"
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--only",
        choices=[
            "vs-threads",
            "vsengine-qt",
            "async-for",
            "signal-per-frame",
            "handover-floor",
            "handover-chain",
        ],
        help="measure only this method and print one line per clip (for interleaving separate "
        "processes, e.g. each under `chrt -f 10` on a loaded machine; see performance.md)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    importlib.import_module(f"{args.binding}.QtWidgets")

    import vsengine_qt
    from vsengine_qt._qt import QtCore, QtWidgets, Signal, exec_

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench"])

    def vs_threads(node: vs.VideoNode, count: int, prefetch: int) -> float:
        start = time.perf_counter()
        if not request_in_a_chain(node, count, prefetch).wait(120):
            raise RuntimeError("vs-threads: timed out")
        return count / (time.perf_counter() - start)

    def with_app_exec(start: Callable[[Callable[[], None]], None]) -> float:
        """Run Qt's loop until ``start``'s work calls the finish callback; return its frames/s."""
        times: list[float] = []

        def finish() -> None:
            times.append(time.perf_counter())
            app.quit()

        def begin() -> None:
            times.append(time.perf_counter())
            start(finish)

        QtCore.QTimer.singleShot(0, begin)
        guard = QtCore.QTimer()
        guard.setSingleShot(True)
        guard.timeout.connect(app.quit)
        guard.start(120_000)
        exec_(app)
        guard.stop()
        if len(times) != 2:
            raise RuntimeError("timed out")
        return times[1] - times[0]

    def vsengine_qt_stream(node: vs.VideoNode, count: int, prefetch: int) -> float:
        received = [0]
        streams: list[Any] = []

        def start(finish: Callable[[], None]) -> None:
            stream = vsengine_qt.FrameStream(node, prefetch=prefetch)
            streams.append(stream)

            def on_frame(n: int, frame: object, seconds: float) -> None:
                received[0] += 1

            stream.frameReady.connect(on_frame)
            stream.finished.connect(finish)
            stream.seek(0, count)

        seconds = with_app_exec(start)
        streams[0].close()
        assert received[0] == count, received
        return count / seconds

    def vsengine_qt_frames(node: vs.VideoNode, count: int, prefetch: int) -> float:
        """``async for`` over ``vsengine_qt.frames()`` in a task of qtinter's guest loop."""
        received = [0]

        def start(finish: Callable[[], None]) -> None:
            async def consume() -> None:
                async with vsengine_qt.frames(node, 0, count, prefetch=prefetch) as iterator:
                    async for _ in iterator:
                        received[0] += 1
                finish()

            tasks.append(session.asyncio_loop.create_task(consume()))

        tasks: list[Any] = []
        seconds = with_app_exec(start)
        assert received[0] == count, received
        return count / seconds

    class SignalAdapter(QtCore.QObject):
        """The one-signal-per-callback adapter previewers use today (see the vsengine loops spec)."""

        invoke = Signal(object)

        def __init__(self) -> None:
            super().__init__()
            self.invoke.connect(self._run)

        def _run(self, call: Callable[[], None]) -> None:
            call()

    def signal_per_frame(node: vs.VideoNode, count: int, prefetch: int) -> float:
        adapter = SignalAdapter()
        state = {"next": prefetch, "received": 0}

        def start(finish: Callable[[], None]) -> None:
            def on_main(frame: vs.VideoFrame | None) -> None:
                state["received"] += 1
                if state["received"] == count:
                    finish()
                n = state["next"]
                if n < count:
                    state["next"] = n + 1
                    node.get_frame_async(n, completed)

            def completed(frame: vs.VideoFrame | None, error: BaseException | None) -> None:
                adapter.invoke.emit(lambda: on_main(frame))  # one queued signal per frame

            for n in range(min(prefetch, count)):
                node.get_frame_async(n, completed)

        seconds = with_app_exec(start)
        assert state["received"] == count
        return count / seconds

    class Wake(QtCore.QObject):
        """A queued no-argument signal: the cheapest way to wake the Qt main thread."""

        wake = Signal()

    def handover(node: vs.VideoNode, count: int, prefetch: int, *, chain: bool) -> float:
        """``handover-floor`` (the Qt thread requests the next frames) or ``handover-chain`` (the
        completions do, under a lock): one wake-up per burst, a deque as the inbox."""
        waker = Wake()
        inbox: collections.deque[vs.VideoFrame | None] = collections.deque()
        lock = threading.Lock()
        state = {"next": prefetch, "received": 0, "woken": False}
        main_thread = threading.current_thread()

        def start(finish: Callable[[], None]) -> None:
            def drain() -> None:
                assert threading.current_thread() is main_thread
                with lock:
                    state["woken"] = False
                while inbox:
                    inbox.popleft()
                    state["received"] += 1
                    if state["received"] == count:
                        finish()
                    elif not chain:
                        n = state["next"]
                        if n < count:
                            state["next"] = n + 1
                            node.get_frame_async(n, completed)

            def completed(frame: vs.VideoFrame | None, error: BaseException | None) -> None:
                inbox.append(frame)
                with lock:
                    first = not state["woken"]
                    state["woken"] = True
                    if chain and state["next"] < count:
                        n = state["next"]
                        state["next"] = n + 1
                    else:
                        n = -1
                if first:
                    waker.wake.emit()
                if n >= 0:
                    node.get_frame_async(n, completed)

            waker.wake.connect(drain, QtCore.Qt.ConnectionType.QueuedConnection)
            for n in range(min(prefetch, count)):
                node.get_frame_async(n, completed)

        seconds = with_app_exec(start)
        assert state["received"] == count, state
        return count / seconds

    methods: dict[str, Callable[[vs.VideoNode, int, int], float]] = {
        "vs-threads": vs_threads,
        "vsengine-qt": vsengine_qt_stream,
        "async-for": vsengine_qt_frames,
        "signal-per-frame": signal_per_frame,
        "handover-floor": lambda node, count, prefetch: handover(node, count, prefetch, chain=False),
        "handover-chain": lambda node, count, prefetch: handover(node, count, prefetch, chain=True),
    }
    results: dict[str, dict[str, list[float]]] = {}
    # CPU time of the whole process per frame (all threads): less sensitive to other load than frames/s.
    cpu: dict[str, dict[str, list[float]]] = {}
    # CPU time of the Qt main thread per frame (the thread every frame is delivered to).
    qt_cpu: dict[str, dict[str, list[float]]] = {}
    selected = {args.only: methods[args.only]} if args.only else methods
    with vsengine_qt.setup() as session:
        with session.policy.new_environment() as env:
            threads = env.core.num_threads
        for clip_name, keep in (("real", False), ("keep", True)):
            if clip_name not in args.clips:
                continue
            count = max(100, int(FRAMES[clip_name] * args.scale))
            results[clip_name] = {name: [] for name in selected}
            cpu[clip_name] = {name: [] for name in selected}
            qt_cpu[clip_name] = {name: [] for name in selected}
            for method in selected.values():  # warm-up
                with clip_in_a_new_environment(session.policy, count, keep=keep) as clip:
                    method(clip, min(count, 500), args.prefetch)
            for _ in range(args.rounds):
                for name, method in selected.items():
                    with clip_in_a_new_environment(session.policy, count, keep=keep) as clip:
                        began, began_qt = time.process_time(), time.thread_time()
                        results[clip_name][name].append(method(clip, count, args.prefetch))
                        cpu[clip_name][name].append((time.process_time() - began) / count * 1e6)
                        qt_cpu[clip_name][name].append((time.thread_time() - began_qt) / count * 1e6)

    if args.only:
        for clip_name, by_method in results.items():
            rate = statistics.median(by_method[args.only])
            total = statistics.median(cpu[clip_name][args.only])
            on_qt = statistics.median(qt_cpu[clip_name][args.only])
            print(
                f"{args.only} {clip_name}: {rate:,.0f} frames/s, CPU {total:.1f} µs/frame "
                f"(Qt thread {on_qt:.1f})"
            )
        return 0

    print(
        f"binding {args.binding}, Python {sys.version.split()[0]}, VapourSynth threads {threads}, "
        f"prefetch {args.prefetch}, {args.rounds} rounds (median frames/s)"
    )
    print()
    print(
        "| clip | VapourSynth threads | FrameStream | ratio | frames() async for | ratio "
        "| signal per frame | ratio | hand-over floor | ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    summary: dict[str, Any] = {"binding": args.binding, "prefetch": args.prefetch, "threads": threads}
    for clip_name, by_method in results.items():
        medians = {name: statistics.median(values) for name, values in by_method.items()}
        ceiling = medians["vs-threads"]
        label = "1080p YUV420P8, real frames" if clip_name == "real" else "1080p YUV420P8, keep=True"
        print(
            f"| {label} | {ceiling:,.0f} | {medians['vsengine-qt']:,.0f} | "
            f"{medians['vsengine-qt'] / ceiling:.2f}x | {medians['async-for']:,.0f} | "
            f"{medians['async-for'] / ceiling:.2f}x | {medians['signal-per-frame']:,.0f} | "
            f"{medians['signal-per-frame'] / ceiling:.2f}x | {medians['handover-floor']:,.0f} | "
            f"{medians['handover-floor'] / ceiling:.2f}x |"
        )
        summary[clip_name] = {"medians": medians, "rounds": by_method, "cpu_us_per_frame": cpu[clip_name]}
    print()
    print("CPU time of the whole process per frame (µs, median; lower is better):")
    print()
    print(
        "| clip | VapourSynth threads | FrameStream | frames() async for | signal per frame "
        "| hand-over floor |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for clip_name, by_method in cpu.items():
        medians = {name: statistics.median(values) for name, values in by_method.items()}
        label = "1080p YUV420P8, real frames" if clip_name == "real" else "1080p YUV420P8, keep=True"
        print(
            f"| {label} | {medians['vs-threads']:.1f} | {medians['vsengine-qt']:.1f} | "
            f"{medians['async-for']:.1f} | {medians['signal-per-frame']:.1f} | "
            f"{medians['handover-floor']:.1f} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
