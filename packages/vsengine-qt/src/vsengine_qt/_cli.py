"""``vsengine-qt preview``: the previewer from the command line (windowed or headless)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import types
    from collections.abc import Sequence

__all__ = ["choose_binding", "display_available", "main", "report_uncaught"]

#: Tried in this order when neither an imported binding nor QTINTERBINDING says which one to use.
_PREFERRED_BINDINGS = ("PySide6", "PyQt6", "PyQt5", "PySide2")


def display_available(environ: dict[str, str] | None = None) -> bool:
    """False when there is no display: no DISPLAY/WAYLAND_DISPLAY and QT_QPA_PLATFORM unset or offscreen."""
    environ = dict(os.environ) if environ is None else environ
    platform = environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("offscreen", "minimal")):
        return True  # the user picked a real platform plugin (xcb, wayland, windows, cocoa, ...)
    if platform:
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def choose_binding() -> str:
    """Import a Qt binding for qtinter to find, unless one is imported or QTINTERBINDING names one."""
    for name in ("PyQt5", "PyQt6", "PySide2", "PySide6"):
        if name in sys.modules:
            return name
    requested = os.environ.get("QTINTERBINDING", "").strip()
    if requested:
        return requested
    for name in _PREFERRED_BINDINGS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(f"{name}.QtCore")
            return name
    raise SystemExit(
        "vsengine-qt: no Qt binding is installed; install one, e.g. pip install 'vsengine-qt[pyside6]'"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsengine-qt", description="VapourSynth previewer on Qt and asyncio."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    preview = commands.add_parser(
        "preview",
        help="preview a VapourSynth script (or the built-in test clip)",
        description="Show a script's output in a window; headless (no display, or --headless) render "
        "frames through the same path, write PNGs and print frames/s.",
    )
    preview.add_argument("script", nargs="?", help="a .vpy/.py script (default: the built-in test clip)")
    preview.add_argument("--output", "-o", type=int, default=0, help="output index to show (default 0)")
    mode = preview.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="no window: render and print frames/s")
    mode.add_argument(
        "--window",
        action="store_true",
        help="open the window even where no display is detected (e.g. QT_QPA_PLATFORM=offscreen)",
    )
    preview.add_argument("--frames", metavar="START-END", help="frame range for --headless (inclusive)")
    preview.add_argument("--png-dir", metavar="DIR", help="with --headless: write each frame as a PNG here")
    preview.add_argument(
        "--prefetch", type=int, default=None, help="frames rendered ahead (default: 2x threads)"
    )
    preview.add_argument(
        "--arg",
        "-a",
        dest="args",
        metavar="NAME=VALUE",
        action="append",
        type=_script_arg,
        default=[],
        help="a global variable NAME (a str) for the script, as vspipe --arg gives it; repeatable",
    )
    return parser


def _script_arg(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME a Python identifier, got {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    headless = args.headless or (not args.window and not display_available())
    if headless and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not headless and (args.frames or args.png_dir):
        print("vsengine-qt: --frames and --png-dir apply to --headless only", file=sys.stderr)
        return 2
    choose_binding()
    previous_hook = sys.excepthook
    # An exception in a Qt slot (ours or a script's) is reported and the application goes on:
    # without a hook of its own PyQt aborts the process.
    sys.excepthook = report_uncaught
    try:
        if headless:
            return _run_headless(args)
        return _run_window(args)
    finally:
        sys.excepthook = previous_hook


def report_uncaught(kind: type[BaseException], error: BaseException, tb: types.TracebackType | None) -> None:
    """``sys.excepthook`` of the previewer: an exception nobody caught (in a Qt slot, say) is printed
    with its traceback, and shown by the open previewer windows; the process goes on."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    text = "".join(traceback.format_exception(kind, error, tb))
    print(f"vsengine-qt: uncaught error (the previewer goes on):\n{text}", end="", file=sys.stderr)
    viewer = sys.modules.get("vsengine_qt._viewer")
    if viewer is not None:
        viewer.PreviewWindow.report_uncaught(error)


def _run_headless(args: argparse.Namespace) -> int:
    import asyncio

    import qtinter
    from vsengine._clitools import FrameFailed
    from vsengine.vpy import ExecutionError
    from vsengine_qt._headless import render_headless
    from vsengine_qt._qt import QtGui
    from vsengine_qt._session import setup

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(["vsengine-qt"])

    async def run() -> int:
        # Owner mode: the loop drives Qt's; setup() finds the running loop and uses it.
        with setup() as session:
            try:
                stats = await render_headless(
                    session.policy,
                    args.script,
                    args.output,
                    args.frames,
                    args.png_dir,
                    prefetch=args.prefetch,
                    args=dict(args.args),
                )
            except FrameFailed as exc:
                print(f"vsengine-qt: {exc.report.summary}", file=sys.stderr)
                print(exc.report.traceback, end="", file=sys.stderr)
                return 1
            except (ExecutionError, LookupError, TypeError, ValueError, OSError) as exc:
                print(f"vsengine-qt: {exc}", file=sys.stderr)
                if isinstance(exc, ExecutionError):
                    print(exc.script_traceback, file=sys.stderr)
                return 1
        where = f", PNGs in {stats.png_dir}" if stats.png_dir is not None else ""
        print(f"{stats.frames} frames in {stats.seconds:.2f} s: {stats.fps:.1f} frames/s{where}")
        return 0

    loop = qtinter.new_event_loop()
    task = loop.create_task(run())
    interrupted = False

    def on_sigint(signum: int, frame: types.FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:  # a second Ctrl+C while the first one's clean-up runs: leave now
            _leave(130)
        interrupted = True
        loop.call_soon_threadsafe(task.cancel)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        code = loop.run_until_complete(task)
    except asyncio.CancelledError:
        code = 130
    finally:
        signal.signal(signal.SIGINT, previous)
        if not interrupted:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        del app
    if interrupted:
        # A script still running in a worker thread (a slow or deadlocked one) would keep the
        # process alive: Python joins those threads at exit. Leave at once, like Ctrl+C should.
        _leave(130)
    return code


def _leave(code: int) -> NoReturn:
    print("vsengine-qt: interrupted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_window(args: argparse.Namespace) -> int:
    from vsengine_qt._qt import QtWidgets, exec_
    from vsengine_qt._session import setup
    from vsengine_qt._viewer import PreviewWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["vsengine-qt"])
    with setup() as session:
        window = PreviewWindow(
            session.policy, args.script, args.output, prefetch=args.prefetch, args=dict(args.args)
        )
        window.resize(1000, 660)
        window.show()
        code = exec_(app)
        window.dispose()
    return code
