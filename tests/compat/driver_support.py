"""What the client drivers share: the scripts they load, waiting on Qt, and the step log.

Imported by ``drive_vsview.py`` (PySide6) and ``drive_vspreview.py`` (PyQt6); each driver passes
its own Qt classes in. No pytest here: the drivers run as plain scripts inside the client's own
environment (made by ``nox -s compat``), where only the client and its dependencies exist.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from porting import Hunk

#: Colours of the outputs of the multi-output script (RGB24 clips), before and after the reload.
FIRST_COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
RELOADED_COLOURS = [(250, 250, 0), (0, 250, 250), (250, 0, 250)]
#: The broken script's error message: the driver looks for it in the error the program shows.
BROKEN_MARKER = "compat-driver-broken-script"
LENGTH = 240  # frames per output, 24 fps: 10 s, longer than any playback step


def script_source(colours: list[tuple[int, int, int]]) -> str:
    lines = ["import vapoursynth as vs", ""]
    for index, colour in enumerate(colours):
        lines.append(
            f"vs.core.std.BlankClip(width=320, height=240, format=vs.RGB24, length={LENGTH}, "
            f"fpsnum=24, fpsden=1, color={list(colour)})"
            f".std.SetFrameProps(_Matrix=0, _Transfer=1, _Primaries=1, _ColorRange=0).set_output({index})"
        )
    return "\n".join(lines) + "\n"


def broken_source() -> str:
    return (
        f'import vapoursynth as vs\n\n\ndef build():\n    raise ValueError("{BROKEN_MARKER}")\n\n\nbuild()\n'
    )


def failing_frame_source(frame: int) -> str:
    """The multi-output script, whose output 0 fails to render ``frame`` (the error names BROKEN_MARKER)."""
    return script_source(FIRST_COLOURS) + (
        "\n\ndef _frame(n, clip=vs.get_output(0)[0]):\n"
        f"    if n == {frame}:\n"
        f'        raise ValueError("{BROKEN_MARKER} at frame {frame}")\n'
        "    return clip\n\n\n"
        "vs.core.std.FrameEval(vs.get_output(0)[0], _frame).set_output(0)\n"
    )


#: A step still running after this long has hung its thread (Waiter's own time-out is 60 s).
HANG_SECONDS = 300


class StepFailed(Exception):
    """A step did not reach its expected state."""


class Steps:
    """Runs named steps in order, logging one JSON line per step; stops at the first failure."""

    def __init__(self, program: str, engine: str) -> None:
        self.program = program
        self.engine = engine
        self.failed = False
        self.started = time.monotonic()

    def run(self, name: str, step: Callable[[], str | None]) -> None:
        if self.failed:
            self._log(name, "skipped", 0.0, "an earlier step failed")
            return
        began = time.monotonic()
        # A step that hangs the GUI thread (a deadlock) never returns to Waiter's time-out: after
        # HANG_SECONDS the stacks of every thread are printed and the process exits (status 1).
        print(f"START {name}", flush=True)
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
        try:
            detail = step() or ""
        except Exception as error:  # the log says what failed; the exit status says that it did
            self.failed = True
            detail = "".join(traceback.format_exception_only(error)).strip()
            traceback.print_exc()
            self._log(name, "failed", time.monotonic() - began, detail)
        else:
            self._log(name, "ok", time.monotonic() - began, detail)
        finally:
            faulthandler.cancel_dump_traceback_later()

    def _log(self, name: str, outcome: str, seconds: float, detail: str) -> None:
        record = {
            "program": self.program,
            "engine": self.engine,
            "step": name,
            "outcome": outcome,
            "seconds": round(seconds, 3),
            "detail": detail,
        }
        print("STEP " + json.dumps(record), flush=True)

    def finish(self) -> int:
        self._log("total", "failed" if self.failed else "ok", time.monotonic() - self.started, "")
        return 1 if self.failed else 0


class Waiter:
    """Waits for a condition while Qt runs: each turn blocks in a QEventLoop until events arrive
    (or 20 ms pass, so conditions set by other threads are seen). ``timeout`` only turns a hang into
    a failed step; a step never passes because time went by."""

    def __init__(self, qt_core: Any, timeout: float = 60.0) -> None:
        self._core = qt_core
        self.timeout = timeout

    def until(
        self,
        condition: Callable[[], object],
        what: str,
        timeout: float | None = None,
        actual: Callable[[], object] | None = None,
    ) -> None:
        """Wait until ``condition()`` is true; on time-out, ``actual()`` says what there was instead."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not condition():
            if time.monotonic() > deadline:
                instead = f" (instead: {actual()!r})" if actual is not None else ""
                raise StepFailed(f"timed out waiting for {what}{instead}")
            loop = self._core.QEventLoop()
            self._core.QTimer.singleShot(20, loop.quit)
            loop.exec()


def colour_at_centre(image: Any) -> tuple[int, int, int]:
    colour = image.pixelColor(image.width() // 2, image.height() // 2)
    return (colour.red(), colour.green(), colour.blue())


def same_colour(shown: tuple[int, int, int] | None, expected: tuple[int, int, int]) -> bool:
    """Equal within 3 per channel (a previewer's display conversion may round differently)."""
    return shown is not None and all(abs(a - b) <= 3 for a, b in zip(shown, expected, strict=True))


def end_application(app: Any, qt_core: Any) -> None:
    """End the application as the program's own ``app.exec()`` ends: its event loop runs, is asked
    to quit, and returns (``aboutToQuit`` is emitted, the program's handlers of it run)."""
    qt_core.QTimer.singleShot(0, app.quit)
    app.exec()


def loop_in_use(ported: bool) -> str:
    """The vsengine loop the program set, by class; with a port, it must be vsengine_qt's."""
    from vsengine.loops import get_loop

    loop = get_loop()
    if ported:
        import vsengine_qt

        assert isinstance(loop, vsengine_qt.QtEventLoop), f"the port is not in effect: {loop!r}"
    return f"{type(loop).__module__}.{type(loop).__qualname__}"


def engine_name() -> str:
    """Which vsengine this environment runs: ours (vsengine-core) or the public vsjetengine."""
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("vsengine-core", "vsjetengine"):
        try:
            return f"{distribution} {version(distribution)}"
        except PackageNotFoundError:
            continue
    raise SystemExit("no vsengine distribution is installed")


def write(path: Path, source: str) -> None:
    path.write_text(source, encoding="utf-8")


def exit_after(steps: Steps) -> None:
    """Exit with the steps' status. After a failure the program may be stuck (a worker waiting for
    what never came): leave without waiting for its threads, the log says what failed."""
    status = steps.finish()
    sys.stdout.flush()
    sys.stderr.flush()
    if status:
        os._exit(status)
    sys.exit(0)


def arguments() -> tuple[Path, Path | None]:
    """``WORKDIR [--port DIFF]``: where the driver works, and where the port's diff goes (None: no port)."""
    args = sys.argv[1:]
    if len(args) == 3 and args[1] == "--port":
        return Path(args[0]).resolve(), Path(args[2]).resolve()
    if len(args) != 1:
        raise SystemExit(f"usage: {sys.argv[0]} WORKDIR [--port DIFF]")
    return Path(args[0]).resolve(), None


def port(package: str, hunks: Sequence[Hunk], workdir: Path, diff: Path) -> str:
    """Apply a port to a copy of the installed ``package`` and import the program from the copy from
    now on; write the unified diff to ``diff``. Returns what to add to the engine's name."""
    import importlib.util

    from porting import apply

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed")
    done = apply(Path(spec.submodule_search_locations[0]), hunks, workdir)
    sys.path.insert(0, str(done.root))
    diff.write_text(done.diff, encoding="utf-8")
    record = {
        "program": package,
        "added": done.added,
        "removed": done.removed,
        "hunks": [
            {"file": file, "what": why, "code_added": added, "code_removed": removed}
            for file, why, added, removed in done.per_hunk
        ],
    }
    print("PORT " + json.dumps(record), flush=True)
    return " + port to vsengine_qt"
