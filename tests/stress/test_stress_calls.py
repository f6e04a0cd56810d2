"""8 threads x 100,000 calls into a guest-mode qtinter loop (Qt's ``app.exec()`` drives asyncio):
none is lost and each thread's calls run in the order it made them.

Two ways in: ``loop.call_soon_threadsafe`` (asyncio) and ``vsengine.loops.from_thread`` through
vsengine-qt's ``QtEventLoop``. Each run is a child process with a hard time limit, so a lost call
(the app would never quit) fails the test instead of hanging it.
"""

from __future__ import annotations

import pytest
from stress_support import child

THREADS = 8
CALLS = 100_000

PROGRAM = """
app = QtCore.QCoreApplication([])
THREADS, CALLS, KIND = {threads}, {calls}, {kind!r}
received = [[] for _ in range(THREADS)]
remaining = [THREADS * CALLS]
last = {{}}


def callback(thread, i):
    received[thread].append(i)
    remaining[0] -= 1
    if remaining[0] % 10_000 == 0:
        progress()
        if remaining[0] == 0:
            app.quit()


def producer(thread, call):
    for i in range(CALLS):
        future = call(callback, thread, i)
    last[thread] = future


def start(call):
    threads = [threading.Thread(target=producer, args=(t, call)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    return threads


if KIND == "call_soon_threadsafe":
    with qtinter.using_asyncio_from_qt() as loop:
        threads = []
        QtCore.QTimer.singleShot(0, lambda: threads.extend(start(loop.call_soon_threadsafe)))
        exec_qt(app)
else:
    import vsengine.loops
    import vsengine_qt

    with vsengine_qt.setup():
        threads = []
        QtCore.QTimer.singleShot(0, lambda: threads.extend(start(vsengine.loops.from_thread)))
        exec_qt(app)
        for thread in threads:
            thread.join()
        # Every future of the last call of each thread resolved (they run in order).
        assert all(last[t].result(timeout=10) is None for t in range(THREADS))
for thread in threads:
    thread.join()
print("lost", remaining[0])
print("in order", all(r == list(range(CALLS)) for r in received))
"""


# Bounded by its work (THREADS x CALLS calls), not by time: ~30 s on a quiet machine, ~240 s at load
# 20. The hang guard is a child that delivers no 10,000 calls in 60 s (a lost call stops the app
# from ever quitting), so pytest-timeout's per-test limit is off here.
@pytest.mark.timeout(0)
@pytest.mark.parametrize("kind", ["call_soon_threadsafe", "from_thread"])
def test_no_call_lost_and_each_threads_order_kept(kind: str) -> None:
    result = child(PROGRAM.format(threads=THREADS, calls=CALLS, kind=kind), stall=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["lost 0", "in order True"], result.stderr[-3000:]
