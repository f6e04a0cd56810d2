"""Floors of a cross-thread wake-up through Qt: how fast can *any* path wake a Qt-hosted loop?

    python -m bench.floors [--bindings pyqt6 pyside6] [--paths ...] [--rounds 5] [--seconds 1.0]
                           [--no-glib]

The low-rate ``call_soon_threadsafe`` latency row compares a Qt-hosted asyncio loop with plain
asyncio. This tool measures what the wake-up alone costs on each path a library could take through
Qt, with no qtinter (and, except for the reference rows, no asyncio) involved, so that the loop's
own cost can be told apart from Qt's.

Every path runs the same producer: a thread that sleeps 1 ms, takes a time stamp and posts one
wake-up, over and over; the loop's thread takes a second time stamp when its Python code runs for
that wake-up. Latency = the difference. Each (binding, path) runs in a fresh process
(``python -m bench.floors --child BINDING PATH SECONDS``); rounds are interleaved in a shuffled
order, and the table shows the median over rounds of each process's median and p99.

Paths:

``asyncio``
    plain ``asyncio.run``; ``loop.call_soon_threadsafe`` (the reference of the latency row).
``epoll``
    no Qt: the thread writes a byte to a socketpair; the main thread blocks in ``epoll.poll`` on it,
    reads the byte (asyncio's own path without asyncio's Python code).
``notifier-fd``
    a ``QSocketNotifier`` on the socket itself; the Python slot reads the byte.
``notifier-epoll``
    a ``QSocketNotifier`` on an epoll descriptor holding the socket; the slot polls the epoll
    descriptor without waiting and reads the byte (qtinter's path without asyncio).
``postevent``
    the thread calls ``QCoreApplication.postEvent(receiver, QEvent(User))``; Qt wakes its own
    dispatcher; a Python ``event()`` override on the receiver runs.
``signal``
    the thread emits a signal of an object living in the main thread, connected (queued) to a
    plain Python method of a main-thread QObject.
``signal-slot``
    the same, connected to a method decorated as a Qt slot (``pyqtSlot()``/``Slot()``).
``signal-function``
    the same, connected to a plain Python function (no receiving QObject; what qtinter connects:
    a bound method of the loop).
``qtinter``
    ``call_soon_threadsafe`` on a qtinter loop in owner mode (the full path), if importable; put
    another source tree first on ``PYTHONPATH`` to measure that one.

With ``--no-glib`` every Qt process runs with ``QT_NO_GLIB=1`` (Qt's own UNIX event dispatcher
instead of GLib's): information only, an application library must not force it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench._metrics import _percentile, threadsafe_latency_low

ROOT = Path(__file__).resolve().parent.parent
PATHS = [
    "asyncio",
    "epoll",
    "notifier-fd",
    "notifier-epoll",
    "postevent",
    "signal",
    "signal-slot",
    "signal-function",
    "qtinter",
]
BINDINGS = {"pyqt6": "PyQt6", "pyside6": "PySide6"}
MARKER = "FLOOR-RESULT "
perf = time.perf_counter


def _producer(post: Any, stop: threading.Event, sent: list[int]) -> None:
    while not stop.is_set():
        time.sleep(0.001)
        post()
        sent[0] += 1


def _summary(latencies: list[float], sent: int) -> dict[str, float]:
    if len(latencies) < sent * 0.9:
        raise RuntimeError(f"only {len(latencies)} of {sent} wake-ups arrived")
    return {
        "median_us": statistics.median(latencies) * 1e6,
        "p99_us": _percentile(latencies, 0.99) * 1e6,
        "n": float(len(latencies)),
    }


# --------------------------------------------------------------------------- without Qt


def _run_asyncio(seconds: float, loop_factory: Any = None) -> dict[str, float]:
    """The reference rows: the benchmark suite's own low-rate latency metric, on asyncio's loop or
    (with `loop_factory`) on qtinter's."""
    import asyncio

    # The metric takes no Qt context (its ctx argument is unused).
    return asyncio.run(threadsafe_latency_low(None, seconds), loop_factory=loop_factory)  # type: ignore[arg-type]


def _run_epoll(seconds: float) -> dict[str, float]:
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    ep = select.epoll()
    ep.register(rsock.fileno(), select.EPOLLIN)
    stamps: collections.deque[float] = collections.deque()
    latencies: list[float] = []
    stop = threading.Event()
    sent = [0]

    def post() -> None:
        stamps.append(perf())
        wsock.send(b"\0")

    thread = threading.Thread(target=_producer, args=(post, stop, sent), daemon=True)
    thread.start()
    end = perf() + seconds
    while perf() < end:
        if ep.poll(0.05):
            rsock.recv(4096)
            now = perf()
            while stamps:
                latencies.append(now - stamps.popleft())
    stop.set()
    thread.join()
    return _summary(latencies, sent[0])


# --------------------------------------------------------------------------- through Qt


def _run_qt(binding: str, path: str, seconds: float) -> dict[str, float]:
    import importlib

    QtCore = importlib.import_module(f"{binding}.QtCore")
    QtWidgets = importlib.import_module(f"{binding}.QtWidgets")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    Signal = getattr(QtCore, "pyqtSignal", None) or QtCore.Signal
    stamps: collections.deque[float] = collections.deque()
    latencies: list[float] = []
    stop = threading.Event()
    sent = [0]
    keep: list[Any] = []

    def arrived() -> None:
        now = perf()
        while stamps:
            latencies.append(now - stamps.popleft())

    if path in ("notifier-fd", "notifier-epoll"):
        rsock, wsock = socket.socketpair()
        rsock.setblocking(False)
        fd = rsock.fileno()
        if path == "notifier-epoll":
            ep = select.epoll()
            ep.register(fd, select.EPOLLIN)
            keep.append(ep)
            fd = ep.fileno()

            def on_ready() -> None:
                if ep.poll(0):
                    rsock.recv(4096)
                    arrived()
        else:

            def on_ready() -> None:
                rsock.recv(4096)
                arrived()

        notifier = QtCore.QSocketNotifier(fd, QtCore.QSocketNotifier.Type.Read)
        notifier.activated.connect(on_ready)
        keep += [rsock, wsock, notifier]

        def post() -> None:
            stamps.append(perf())
            wsock.send(b"\0")

    elif path == "postevent":
        user_type = QtCore.QEvent.Type(QtCore.QEvent.registerEventType())

        class Receiver(QtCore.QObject):  # type: ignore[misc,name-defined]
            def event(self, ev: Any) -> bool:
                if ev.type() == user_type:
                    arrived()
                    return True
                return super().event(ev)  # type: ignore[no-any-return]

        receiver = Receiver()
        keep.append(receiver)
        post_event = QtCore.QCoreApplication.postEvent

        def post() -> None:
            stamps.append(perf())
            post_event(receiver, QtCore.QEvent(user_type))

    elif path.startswith("signal"):
        Emitter = type("Emitter", (QtCore.QObject,), {"fired": Signal()})
        emitter = Emitter()
        queued = QtCore.Qt.ConnectionType.QueuedConnection
        if path == "signal-function":
            emitter.fired.connect(lambda: arrived(), queued)
        else:

            def on_fired(self: Any) -> None:
                arrived()

            if path == "signal-slot":
                on_fired = (getattr(QtCore, "pyqtSlot", None) or QtCore.Slot)()(on_fired)
            sink = type("Sink", (QtCore.QObject,), {"on_fired": on_fired})()
            emitter.fired.connect(sink.on_fired, queued)
            keep.append(sink)
        keep.append(emitter)

        def post() -> None:
            stamps.append(perf())
            emitter.fired.emit()

    else:
        raise ValueError(f"unknown path {path!r}")

    thread = threading.Thread(target=_producer, args=(post, stop, sent), daemon=True)
    QtCore.QTimer.singleShot(20, thread.start)
    QtCore.QTimer.singleShot(20 + int(seconds * 1000), app.quit)
    app.exec()
    stop.set()
    thread.join()
    app.processEvents()
    return _summary(latencies, sent[0])


def _run_qtinter(binding: str, seconds: float) -> dict[str, float]:
    import importlib

    importlib.import_module(f"{binding}.QtCore")
    QtWidgets = importlib.import_module(f"{binding}.QtWidgets")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QTINTERBINDING"] = binding.lower()
    _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    qtinter = importlib.import_module("qtinter")
    return _run_asyncio(seconds, loop_factory=qtinter.new_event_loop)


def child(binding: str, path: str, seconds: float) -> dict[str, float]:
    if path == "asyncio":
        return _run_asyncio(seconds)
    if path == "epoll":
        return _run_epoll(seconds)
    if path == "qtinter":
        return _run_qtinter(BINDINGS[binding], seconds)
    return _run_qt(BINDINGS[binding], path, seconds)


# --------------------------------------------------------------------------- parent


def _spawn(binding: str, path: str, seconds: float, no_glib: bool) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if no_glib:
        env["QT_NO_GLIB"] = "1"
    cmd = [sys.executable, "-m", "bench.floors", "--child", binding, path, repr(seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60 + seconds)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])  # type: ignore[no-any-return]
    return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]}


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--child"]:
        try:
            result: dict[str, Any] = child(args_in[1], args_in[2], float(args_in[3]))
        except ImportError as exc:
            result = {"error": f"unavailable: {exc}"}
        print(MARKER + json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.floors", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bindings", nargs="+", choices=list(BINDINGS), default=list(BINDINGS))
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=PATHS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--no-glib", action="store_true", help="run Qt with QT_NO_GLIB=1 (information only)")
    args = parser.parse_args(args_in)

    cells: list[tuple[str, str]] = []
    for path in args.paths:
        if path in ("asyncio", "epoll"):
            cells.append(("-", path))
        else:
            cells += [(binding, path) for binding in args.bindings]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {cell: [] for cell in cells}
    for round_no in range(args.rounds):
        order = cells[:]
        random.shuffle(order)
        for binding, path in order:
            runs[(binding, path)].append(
                _spawn(binding if binding != "-" else "pyqt6", path, args.seconds, args.no_glib)
            )
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def cell_value(cell: tuple[str, str], key: str) -> float | None:
        values = [r[key] for r in runs[cell] if key in r]
        return statistics.median(values) if values else None

    ref = {key: cell_value(("-", "asyncio"), key) for key in ("median_us", "p99_us")}
    glib = "QT_NO_GLIB=1" if args.no_glib else "Qt's default dispatcher (GLib)"
    load = os.getloadavg()
    print(
        f"\n{args.rounds} rounds x {args.seconds:g} s per process, a wake-up every ~1 ms; {glib}; "
        f"load average {load[0]:.2f}\n"
    )
    print("| path | binding | median us | p99 us | median / asyncio | p99 / asyncio |")
    print("|---|---|---|---|---|---|")
    for cell in cells:
        errors = [r["error"] for r in runs[cell] if "error" in r]
        med, p99 = cell_value(cell, "median_us"), cell_value(cell, "p99_us")
        if med is None or p99 is None:
            print(f"| {cell[1]} | {cell[0]} | {errors[:1]} | | | |")
            continue
        rm = f"{med / ref['median_us']:.2f}x" if ref["median_us"] else ""
        rp = f"{p99 / ref['p99_us']:.2f}x" if ref["p99_us"] else ""
        print(f"| {cell[1]} | {cell[0]} | {med:.1f} | {p99:.1f} | {rm} | {rp} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
