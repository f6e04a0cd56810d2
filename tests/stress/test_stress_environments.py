"""2,000 VapourSynth environments created, used (a frame rendered) and disposed across 4 threads
with ``ThreadLocalStore``: no ResourceWarning, every core destroyed once the delayed release has
run, and resident memory that stops growing (the bound is stated below).

Runs in a child process (its memory is measured alone, and nothing can hang the suite).
"""

from __future__ import annotations

import pytest
from stress_support import child

ENVIRONMENTS = 2000
THREADS = 4
#: Allowed growth of resident memory between environment 400 (warm: thread pools, allocator arenas
#: and VapourSynth's plugin registry are set up) and environment 2,000. A leaked core costs
#: several MiB (its thread pool, caches and plugin objects), so 1,600 leaked cores would be GiBs.
RSS_GROWTH_BOUND_MIB = 48

PROGRAM = """
import warnings
import vapoursynth as vs
from vsengine.policy import Policy, ThreadLocalStore
from vsengine.video import frame
from vsengine._release import release_queue

warnings.simplefilter("error", ResourceWarning)
problems = []
sys.unraisablehook = lambda u: problems.append(repr(u.exc_value))
threading.excepthook = lambda a: problems.append(repr(a.exc_value))


def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


TOTAL, THREADS = {total}, {threads}
per_thread = TOTAL // THREADS
vs_environments = []
lock = threading.Lock()
done = [0]
rss_warm = [None]


def worker(policy):
    for i in range(per_thread):
        env = policy.new_environment()
        with env.use():
            clip = vs.core.std.BlankClip(width=64, height=36, length=2, color=[i % 256, 128, 128])
            rendered = frame(clip, 1, env).result()
            assert rendered[0][0, 0] == i % 256
            del rendered, clip
        with lock:
            vs_environments.append(env.vs_environment)
            done[0] += 1
            progress()
            if done[0] == TOTAL // 5:
                gc.collect()
                rss_warm[0] = rss_kib()
        env.dispose()


with Policy(ThreadLocalStore()) as policy:
    threads = [threading.Thread(target=worker, args=(policy,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The delayed release: every disposed core is destroyed once nothing refers to it. The bound
    # only ends a wait that would never end, before the 60 s stall guard (the release thread
    # re-checks every 0.5 s at most).
    release_queue.wait_until_empty(timeout=50)
    gc.collect()
    alive = sum(1 for e in vs_environments if e.alive)
    print("pending=" + str(len(release_queue)))
    print("alive=" + str(alive))
    del vs_environments
    gc.collect()
    print("rss_growth_kib=" + str(rss_kib() - rss_warm[0]))
print("environments=" + str(done[0]))
print("problems=" + repr(problems))
"""


# Bounded by its work; the hang guard is a minute without an environment done (see child()).
@pytest.mark.timeout(0)
def test_thousands_of_environments_across_threads_leak_nothing() -> None:
    result = child(PROGRAM.format(total=ENVIRONMENTS, threads=THREADS), stall=60)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines.get("environments") == str(ENVIRONMENTS), result.stdout
    assert lines.get("problems") == "[]", result.stdout  # no ResourceWarning, no thread died
    assert lines.get("pending") == "0", result.stdout
    assert lines.get("alive") == "0", result.stdout  # no core left alive
    growth_kib = int(lines["rss_growth_kib"])
    assert growth_kib < RSS_GROWTH_BOUND_MIB * 1024, f"resident memory grew {growth_kib} KiB"
