"""The benchmarks. Each one is a coroutine run inside the loop under test, bounded in time.

Every benchmark has the signature ``async def bench(ctx, duration) -> dict[str, float]``: it does
about ``duration`` seconds of work (the idle benchmark takes ``idle`` seconds instead) and returns
named numbers. :data:`METRICS` lists them with the unit and direction of every number; the runner
and the table are driven by it.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bench._configs import Ctx, Result

#: The clock of throughput loops: wall time, or with ``BENCH_CLOCK=cpu`` (``--clock cpu``) the CPU
#: time of the loop's thread for the single-threaded throughput benchmarks (see Metric.cpu_clock).
perf = time.perf_counter


def use_cpu_clock() -> None:
    """Measure the single-threaded throughput benchmarks in CPU time of the loop's thread.

    On a machine shared with other work, wall-clock rates drop with every competing process;
    the CPU time the loop's thread spends per operation barely moves, so A/B comparisons stay
    meaningful. It also counts the Qt work done in that thread, so nothing is hidden.
    """
    global perf
    perf = time.thread_time


def _percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index]


# --------------------------------------------------------------------------- throughput


async def call_soon_chain(ctx: Ctx, duration: float) -> Result:
    """A chain of call_soon callbacks: each one schedules the next."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0
    deadline = perf() + duration

    def step() -> None:
        nonlocal count
        count += 1
        if count & 1023 == 0 and perf() >= deadline:
            done.set_result(None)
        else:
            loop.call_soon(step)

    start = perf()
    loop.call_soon(step)
    await done
    return {"rate": count / (perf() - start)}


async def sleep0(ctx: Ctx, duration: float) -> Result:
    """``await asyncio.sleep(0)`` in a loop: one task yielding to the loop."""
    count = 0
    start = perf()
    deadline = start + duration
    while True:
        await asyncio.sleep(0)
        count += 1
        if count & 1023 == 0 and perf() >= deadline:
            break
    return {"rate": count / (perf() - start)}


async def queue_pingpong(ctx: Ctx, duration: float) -> Result:
    """Two tasks bouncing a token through two asyncio.Queue objects (round trips/s)."""
    ping: asyncio.Queue[int] = asyncio.Queue()
    pong: asyncio.Queue[int] = asyncio.Queue()

    async def echo() -> None:
        while (item := await ping.get()) >= 0:
            pong.put_nowait(item)

    echo_task = asyncio.create_task(echo())
    count = 0
    start = perf()
    deadline = start + duration
    while True:
        ping.put_nowait(count)
        await pong.get()
        count += 1
        if count & 255 == 0 and perf() >= deadline:
            break
    elapsed = perf() - start
    ping.put_nowait(-1)
    await echo_task
    return {"rate": count / elapsed}


async def threadsafe_flood(ctx: Ctx, duration: float) -> Result:
    """Four threads calling call_soon_threadsafe as fast as they can (callbacks run per second).

    Each thread keeps at most ``window`` of its callbacks outstanding (sent, not yet run), so the
    queue cannot grow without bound; the loop is saturated throughout. Afterwards every callback
    sent must run: a loop that loses a wake-up or a callback fails the benchmark.
    """
    loop = asyncio.get_running_loop()
    threads, window = 4, 256
    executed = [0] * threads
    sent_counts = [0] * threads
    stop = threading.Event()

    def cb(i: int) -> None:
        executed[i] += 1

    def producer(i: int) -> None:
        sent = 0
        post = loop.call_soon_threadsafe
        while not stop.is_set():
            if sent - executed[i] < window:
                post(cb, i)
                sent += 1
                sent_counts[i] = sent
            else:
                time.sleep(0.0001)

    workers = [threading.Thread(target=producer, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    await asyncio.sleep(min(0.05, duration / 4))  # let the flood build up
    n0, t0 = sum(executed), perf()
    await asyncio.sleep(duration)
    n1, t1 = sum(executed), perf()
    stop.set()
    while any(w.is_alive() for w in workers):
        await asyncio.sleep(0.001)
    await _all_ran(executed, sent_counts)
    return {"rate": (n1 - n0) / (t1 - t0)}


async def _all_ran(executed: list[int], sent: list[int], timeout: float = 5.0) -> None:
    """Wait until every cross-thread callback sent has run; RuntimeError if some never do."""
    deadline = time.perf_counter() + timeout
    while executed != sent:
        if time.perf_counter() >= deadline:
            lost = sum(sent) - sum(executed)
            raise RuntimeError(f"{lost} call_soon_threadsafe callbacks never ran within {timeout:g} s")
        await asyncio.sleep(0.001)


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def tcp_rtt(ctx: Ctx, duration: float) -> Result:
    """Loopback TCP (asyncio streams) 64-byte request/response round trips."""
    server, port = await _echo_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    message = b"x" * 64
    count = 0
    start = perf()
    deadline = start + duration
    while True:
        writer.write(message)
        await reader.readexactly(64)
        count += 1
        if count & 63 == 0 and perf() >= deadline:
            break
    elapsed = perf() - start
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return {"rate": count / elapsed}


async def tcp_bulk(ctx: Ctx, duration: float) -> Result:
    """Loopback TCP (asyncio streams) one-way bulk transfer in 64 KiB writes; MB = 10**6 bytes."""
    loop = asyncio.get_running_loop()
    received = loop.create_future()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        total = 0
        while data := await reader.read(65536):
            total += len(data)
        received.set_result((total, perf()))
        writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunk = b"\0" * 65536
    start = perf()
    deadline = start + duration
    while perf() < deadline:
        writer.write(chunk)
        await writer.drain()
    writer.write_eof()
    total, end = await received
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return {"mb_s": total / (end - start) / 1e6}


async def signal_slot(ctx: Ctx, duration: float) -> Result:
    """Qt signal -> coroutine slot: emissions whose coroutine ran to completion, per second.

    Emitted in batches of 64 from a plain loop callback (as a Qt signal would be emitted from
    application code); the slot coroutine yields once (``await asyncio.sleep(0)``) before it
    counts, so every emission costs one real coroutine resumption through the loop.
    """
    loop = asyncio.get_running_loop()
    emitter = ctx.make_emitter()
    done = loop.create_future()
    batch = 64
    completed = 0
    deadline = perf() + duration

    async def slot(_value: int) -> None:
        nonlocal completed
        await asyncio.sleep(0)
        completed += 1
        if completed % batch == 0:
            if perf() >= deadline:
                if not done.done():
                    done.set_result(None)
            else:
                loop.call_soon(pump)

    def pump() -> None:
        for i in range(batch):
            emitter.fired.emit(i)

    ctx.connect_coroutine_slot(emitter, slot)
    start = perf()
    loop.call_soon(pump)
    await done
    return {"rate": completed / (perf() - start)}


# --------------------------------------------------------------------------- latency


async def threadsafe_latency_low(ctx: Ctx, duration: float) -> Result:
    """One thread posting one call_soon_threadsafe callback about every millisecond."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    stop = threading.Event()
    sent = [0]
    executed = [0]

    def cb(sent_at: float) -> None:
        latencies.append(perf() - sent_at)
        executed[0] += 1

    def producer() -> None:
        while not stop.is_set():
            time.sleep(0.001)
            loop.call_soon_threadsafe(cb, perf())
            sent[0] += 1

    worker = threading.Thread(target=producer, daemon=True)
    worker.start()
    await asyncio.sleep(duration)
    stop.set()
    while worker.is_alive():
        await asyncio.sleep(0.002)
    await _all_ran(executed, sent)
    return {
        "median_us": statistics.median(latencies) * 1e6,
        "p99_us": _percentile(latencies, 0.99) * 1e6,
    }


#: The offered load of the loaded-latency benchmark: callbacks per second, from all threads together.
#: Well below what plain asyncio sustains (its flood row measured 100-250k/s on the 2-core
#: development VM; at 50k/s it runs every call, median ~27 us), so the loops compared all keep up
#: and the row compares like with like.
LOADED_RATE = 50_000


async def threadsafe_latency_loaded(ctx: Ctx, duration: float) -> Result:
    """call_soon_threadsafe latency under a fixed load: four threads post LOADED_RATE calls/s in all.

    The load is offered open-loop: every 0.5 ms each thread posts the calls its share of the rate
    makes due by then (about 6), each with its own time stamp, whatever the loop does, so a faster
    loop cannot be penalized by being sent more (as in a closed-loop flood, where by Little's law the
    latency is the number outstanding divided by the throughput). Latency = when the callback runs
    minus when its call was made; calls wait behind those posted just before them, so this includes
    the queueing a burst of cross-thread calls causes. Every call must run.
    """
    loop = asyncio.get_running_loop()
    threads = 4
    per_thread = LOADED_RATE / threads
    executed = [0] * threads
    sent_counts = [0] * threads
    latencies: list[float] = []
    stop = threading.Event()

    def cb(i: int, sent_at: float) -> None:
        latencies.append(perf() - sent_at)
        executed[i] += 1

    def producer(i: int) -> None:
        post = loop.call_soon_threadsafe
        clock = time.perf_counter
        start = clock()
        sent = 0
        while not stop.is_set():
            for _ in range(int((clock() - start) * per_thread) - sent):
                post(cb, i, clock())
                sent += 1
            sent_counts[i] = sent
            time.sleep(0.0005)

    workers = [threading.Thread(target=producer, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    await asyncio.sleep(min(0.05, duration / 4))  # past the start-up
    lat0, n0, t0 = len(latencies), sum(executed), perf()
    await asyncio.sleep(duration)
    lat1, n1, t1 = len(latencies), sum(executed), perf()
    stop.set()
    while any(w.is_alive() for w in workers):
        await asyncio.sleep(0.001)
    await _all_ran(executed, sent_counts)
    window = latencies[lat0:lat1]
    return {
        "median_us": statistics.median(window) * 1e6,
        "p99_us": _percentile(window, 0.99) * 1e6,
        # The rate the loop actually ran: below LOADED_RATE means it did not keep up.
        "rate": (n1 - n0) / (t1 - t0),
    }


async def timer_1ms(ctx: Ctx, duration: float) -> Result:
    """``await asyncio.sleep(0.001)`` repeatedly: how late does it wake (wall clock)?"""
    overshoots: list[float] = []
    deadline = perf() + duration
    while perf() < deadline:
        t = perf()
        await asyncio.sleep(0.001)
        overshoots.append(perf() - t - 0.001)
    return {
        "mean_ms": statistics.fmean(overshoots) * 1e3,
        "p99_ms": _percentile(overshoots, 0.99) * 1e3,
    }


# --------------------------------------------------------------------------- idle and fairness


async def idle_cpu(ctx: Ctx, duration: float) -> Result:
    """Process CPU time (all threads) while the loop sleeps ``duration`` seconds, in ms."""
    await asyncio.sleep(0.05)  # let start-up work settle
    cpu0, wall0 = time.process_time(), perf()
    await asyncio.sleep(duration)
    cpu1, wall1 = time.process_time(), perf()
    return {"cpu_ms": (cpu1 - cpu0) * 1e3, "wall_s": wall1 - wall0}


async def qt_dispatch_gap(ctx: Ctx, duration: float) -> Result:
    """Longest gap between two Qt timer dispatches while asyncio is saturated.

    A ``QTimer`` with interval 0 stands for the GUI's own work; asyncio meanwhile runs two
    perpetual chains of CPU-bound callbacks (about 50 us each), so it always has work ready.
    """
    return await _qt_gap(ctx, duration, chains=2, work=50e-6)


async def qt_dispatch_gap_many(ctx: Ctx, duration: float) -> Result:
    """Like :func:`qt_dispatch_gap`, with 40 chains of 0.5 ms callbacks ready at the same time.

    One asyncio iteration runs every callback that was ready when it started (20 ms here), so a
    loop that gives Qt its turn only between iterations cannot keep Qt's gap below one iteration.
    """
    return await _qt_gap(ctx, duration, chains=40, work=0.5e-3)


async def _qt_gap(ctx: Ctx, duration: float, *, chains: int, work: float) -> Result:
    QtCore = ctx.QtCore
    if QtCore is None:
        raise NotImplementedError("plain asyncio has no Qt side")
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    last = [0.0]
    measuring = [False]

    def tick() -> None:
        now = perf()
        if measuring[0]:
            gaps.append(now - last[0])
        last[0] = now

    timer = QtCore.QTimer()
    timer.setInterval(0)
    timer.timeout.connect(tick)
    timer.start()

    callbacks = [0]
    stopping = [False]

    def burn() -> None:
        end = perf() + work
        while perf() < end:
            pass
        callbacks[0] += 1
        if not stopping[0]:
            loop.call_soon(burn)

    await asyncio.sleep(0.02)  # the timer is running
    for _ in range(chains):
        loop.call_soon(burn)
    await asyncio.sleep(0)
    last[0] = perf()
    measuring[0] = True
    start = perf()
    await asyncio.sleep(duration)
    measuring[0] = False
    elapsed = perf() - start
    stopping[0] = True
    timer.stop()
    await asyncio.sleep(0.01)
    if not gaps:
        return {"max_gap_ms": elapsed * 1e3, "qt_ticks_s": 0.0, "asyncio_cb_s": callbacks[0] / elapsed}
    return {
        "max_gap_ms": max(gaps) * 1e3,
        "qt_ticks_s": len(gaps) / elapsed,
        "asyncio_cb_s": callbacks[0] / elapsed,
    }


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Value:
    """One number a metric reports, as it appears in the table."""

    key: str
    label: str
    unit: str
    #: True when bigger is better (throughput), False when smaller is better (latency, CPU).
    higher_is_better: bool
    #: The target for qtinter rows: ("ratio>=", 0.9), ("ratio<=", 1.2), ("abs<", 16.0), ...
    target: tuple[str, float] | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    func: Callable[[Ctx, float], Awaitable[Result]]
    values: tuple[Value, ...]
    #: Plain asyncio has no row for metrics that need Qt.
    needs_qt: bool = False
    #: The work takes the idle duration instead of the work duration.
    idle: bool = False
    #: Single-threaded CPU-bound throughput: may be timed with the loop thread's CPU clock.
    cpu_clock: bool = False
    #: The reference is plain asyncio with the same Qt binding imported (``asyncio+<binding>``),
    #: because the benchmark itself uses the binding (a real Qt signal) without needing its loop.
    binding_reference: bool = False


_THROUGHPUT = ("ratio>=", 0.9)
_LOADED = f"{LOADED_RATE // 1000}k/s"
_LATENCY = ("ratio<=", 1.2)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            "call_soon",
            call_soon_chain,
            (Value("rate", "chain of call_soon callbacks", "/s", True, _THROUGHPUT),),
            cpu_clock=True,
        ),
        Metric(
            "sleep0",
            sleep0,
            (Value("rate", "await asyncio.sleep(0)", "/s", True, _THROUGHPUT),),
            cpu_clock=True,
        ),
        Metric(
            "queue",
            queue_pingpong,
            (Value("rate", "asyncio.Queue ping-pong", "/s", True, _THROUGHPUT),),
            cpu_clock=True,
        ),
        Metric(
            "flood",
            threadsafe_flood,
            (Value("rate", "call_soon_threadsafe flood, 4 threads", "/s", True, _THROUGHPUT),),
        ),
        Metric(
            "tcp_rtt", tcp_rtt, (Value("rate", "loopback TCP 64 B round trips", "/s", True, _THROUGHPUT),)
        ),
        Metric(
            "signal",
            signal_slot,
            (Value("rate", "Qt signal -> coroutine slot", "/s", True, _THROUGHPUT),),
            cpu_clock=True,
            binding_reference=True,
        ),
        Metric(
            "tcp_bulk",
            tcp_bulk,
            (Value("mb_s", "loopback TCP bulk, 64 KiB writes", "MB/s", True, _THROUGHPUT),),
        ),
        Metric(
            "lat_low",
            threadsafe_latency_low,
            (
                Value("median_us", "threadsafe latency, low rate, median", "us", False, _LATENCY),
                Value("p99_us", "threadsafe latency, low rate, p99", "us", False, _LATENCY),
            ),
        ),
        Metric(
            "lat_flood",
            threadsafe_latency_loaded,
            (
                Value(
                    "median_us", f"threadsafe latency, 4 threads at {_LOADED}, median", "us", False, _LATENCY
                ),
                Value("p99_us", f"threadsafe latency, 4 threads at {_LOADED}, p99", "us", False, _LATENCY),
                Value("rate", f"threadsafe calls run, 4 threads offering {_LOADED}", "/s", True),
            ),
        ),
        Metric(
            "timer",
            timer_1ms,
            (
                Value("mean_ms", "1 ms timer overshoot, mean", "ms", False, _LATENCY),
                Value("p99_ms", "1 ms timer overshoot, p99", "ms", False, _LATENCY),
            ),
        ),
        Metric(
            "idle",
            idle_cpu,
            (Value("cpu_ms", "CPU time used while idle", "ms", False, ("idle", 1.0)),),
            idle=True,
        ),
        Metric(
            "qt_gap",
            qt_dispatch_gap,
            (
                Value(
                    "max_gap_ms", "longest Qt dispatch gap, asyncio saturated", "ms", False, ("abs<", 16.0)
                ),
                Value("qt_ticks_s", "Qt timer(0) dispatches while saturated", "/s", True),
                Value("asyncio_cb_s", "asyncio 50 us callbacks while saturated", "/s", True),
            ),
            needs_qt=True,
        ),
        Metric(
            "qt_gap_many",
            qt_dispatch_gap_many,
            (
                # No target: one iteration (20 ms of ready callbacks) is the floor for a loop that
                # yields to Qt between iterations; this row shows how far above that a loop is.
                Value("max_gap_ms", "longest Qt dispatch gap, 40 ready 0.5 ms callbacks", "ms", False),
                Value("qt_ticks_s", "Qt timer(0) dispatches, 40 ready 0.5 ms callbacks", "/s", True),
                Value("asyncio_cb_s", "asyncio 0.5 ms callbacks, 40 ready", "/s", True),
            ),
            needs_qt=True,
        ),
    ]
}
