"""Shutting an application down while frames are being rendered: by closing its window, by
quitting the app, or by cancelling the task that awaits the frames. The process must exit without a
crash and without rendering the frames nobody waits for any more (the shutdown does not wait for
them), and no future may be left pending (each one resolved, with a frame or an error, or
cancelled). How long the exit takes is not asserted (it depends on the machine's load); a process
that hangs is killed after `HANG_GUARD` seconds and fails the test.

Two ways to have 1,000 frames requested: ``vsengine.video.frame`` called 1,000 times (VapourSynth
gets a few per thread, the rest wait in vsengine's admission queue, where disposing the environment
withdraws them), and vsengine-qt's ``FrameStream`` / ``frames()`` over 1,000 frames (a bounded
prefetch window in flight). Each run is a real Qt application (guest mode,
``vsengine_qt.setup()``) in a child process, killed if it outlives the bound by a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from stress_support import BINDING, PRELUDE

REQUESTS = 1000
#: Seconds after the shutdown after which the process counts as hung.
HANG_GUARD = 60

PROGRAM = """
import vapoursynth as vs
import vsengine_qt
from vsengine.video import frame

HOW, API, REQUESTS = {how!r}, {api!r}, {requests}
app = QtWidgets.QApplication([])
window = QtWidgets.QWidget()
futures = []
delivered = []
rendered = []  # one item per frame VapourSynth rendered (list.append is atomic)


def count_rendered(n, f):
    rendered.append(n)
    return f


def shutdown(task):
    print("shutdown", flush=True)
    if HOW == "window closed":
        window.close()  # the last window: Qt quits the app
    elif HOW == "app quit":
        app.quit()
    else:
        task.cancel()


async def main(clip):
    task = asyncio.current_task()
    if API == "video.frame":
        futures.extend(frame(clip, n, env) for n in range(REQUESTS))
        awaited = asyncio.gather(*futures)
    else:
        async def consume():
            async with vsengine_qt.frames(clip, 0, REQUESTS) as iterator:
                async for item in iterator:
                    delivered.append(item.n)
        awaited = consume()
    print("requested", flush=True)
    QtCore.QTimer.singleShot(300, lambda: shutdown(task))
    try:
        await awaited
    finally:
        if HOW == "task cancelled":
            app.quit()


with vsengine_qt.setup() as session:
    env = session.policy.new_environment()
    with env.use():
        blank = vs.core.std.BlankClip(width=1920, height=1080, format=vs.YUV420P8, length=REQUESTS)
        blurred = blank.std.BoxBlur(hradius=8, vradius=8, hpasses=2, vpasses=2)
        clip = blurred.std.ModifyFrame(blurred, count_rendered)
    window.show()
    QtCore.QTimer.singleShot(0, lambda: session.asyncio_loop.create_task(main(clip)))
    exec_qt(app)
    print("in flight", sum(1 for f in futures if not f.done()), flush=True)
    del clip, blurred, blank
    env.dispose()
print("rendered", len(rendered))
print("delivered in order", delivered == list(range(len(delivered))))
print("requests", len(futures))
print("pending", sum(1 for f in futures if not f.done()))
"""


@pytest.mark.parametrize(
    ("how", "api"),
    [
        pytest.param(how, api, id=f"{how}-{api}")
        for api in ("frames", "video.frame")
        for how in ("window closed", "app quit", "task cancelled")
    ],
)
def test_shutdown_with_frames_in_flight(how: str, api: str) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PRELUDE + textwrap.dedent(PROGRAM.format(how=how, api=api, requests=REQUESTS)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": BINDING},
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("shutdown"):
                break
        assert lines[-2:] == ["requested", "shutdown"], lines
        try:
            out, err = proc.communicate(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the process was still running {HANG_GUARD} s after the shutdown: it hangs")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    result = out.splitlines()
    assert "delivered in order True" in result, out
    assert "pending 0" in result, out
    # The shutdown did not wait for the frames nobody wanted any more: of 1,000 requested, only the
    # few VapourSynth had started (a bounded window) were rendered.
    rendered = int(next(line for line in result if line.startswith("rendered ")).split()[1])
    assert rendered < REQUESTS // 2, out
