"""``vsengine-qt preview``: the previewer from the command line (windowed or headless)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["choose_binding", "display_available", "main"]

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    headless = args.headless or (not args.window and not display_available())
    if headless and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not headless and (args.frames or args.png_dir):
        print("vsengine-qt: --frames and --png-dir apply to --headless only", file=sys.stderr)
        return 2
    choose_binding()
    if headless:
        return _run_headless(args)
    return _run_window(args)


def _run_headless(args: argparse.Namespace) -> int:
    import asyncio

    import qtinter
    from vsengine.vpy import ExecutionError
    from vsengine_qt._headless import render_headless
    from vsengine_qt._qt import QtGui
    from vsengine_qt._session import setup

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(["vsengine-qt"])

    async def run() -> int:
        # Owner mode: asyncio.run drives Qt's loop; setup() finds the running loop and uses it.
        with setup() as session:
            try:
                stats = await render_headless(
                    session.policy,
                    args.script,
                    args.output,
                    args.frames,
                    args.png_dir,
                    prefetch=args.prefetch,
                )
            except (ExecutionError, LookupError, TypeError, ValueError, OSError) as exc:
                print(f"vsengine-qt: {exc}", file=sys.stderr)
                if isinstance(exc, ExecutionError):
                    print(exc.script_traceback, file=sys.stderr)
                return 1
        where = f", PNGs in {stats.png_dir}" if stats.png_dir is not None else ""
        print(f"{stats.frames} frames in {stats.seconds:.2f} s: {stats.fps:.1f} frames/s{where}")
        return 0

    try:
        return asyncio.run(run(), loop_factory=qtinter.new_event_loop)
    finally:
        del app


def _run_window(args: argparse.Namespace) -> int:
    from vsengine_qt._qt import QtWidgets, exec_
    from vsengine_qt._session import setup
    from vsengine_qt._viewer import PreviewWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["vsengine-qt"])
    with setup() as session:
        window = PreviewWindow(session.policy, args.script, args.output, prefetch=args.prefetch)
        window.resize(1000, 660)
        window.show()
        code = exec_(app)
        window.dispose()
    return code
