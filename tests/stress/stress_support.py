"""Helpers of the stress tests: run a Python program in a child process with a hard time limit,
and read a process's resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

#: The Qt binding of the stress session (nox sets it); the children use the same one.
BINDING = os.environ.get("QTINTERBINDING", "PyQt6")

#: Imports every child starts with: the binding first, so that qtinter picks it.
PRELUDE = f"""\
import asyncio, gc, os, signal, sys, threading, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from {BINDING} import QtCore, QtGui, QtWidgets
import qtinter


def exec_qt(app):
    return (getattr(app, "exec", None) or app.exec_)()
"""


def child(
    source: str, *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``PRELUDE + source`` in a child Python; raise subprocess.TimeoutExpired after ``timeout`` s."""
    environ = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": BINDING, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        check=False,
    )


def rss_kib() -> int:
    """Resident memory of this process in KiB (Linux: /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
