"""Helpers of the stress tests: run a Python program in a child process with a hang guard, and read
a process's resident memory."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
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


_PROGRESS_FD = int(os.environ.get("STRESS_PROGRESS_FD", "-1"))


def progress():  # tells the test that this child still makes progress (child()'s `stall`)
    if _PROGRESS_FD >= 0:
        os.write(_PROGRESS_FD, b".")


progress()  # the imports are done
"""


def child(
    source: str,
    *,
    timeout: float | None = None,
    stall: float | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``PRELUDE + source`` in a child Python.

    The hang guard is either `timeout`, a bound on the whole run (raises subprocess.TimeoutExpired),
    or `stall`, a bound on the time without progress: the child calls ``progress()`` as it works
    (e.g. every 10,000 calls) and is killed (subprocess.TimeoutExpired) only when `stall` seconds
    pass without one. A stress bounded by its work takes as long as the machine's load makes it
    take; only a child that stopped working is a hang.
    """
    environ = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTINTERBINDING": BINDING, **(env or {})}
    args = [sys.executable, "-c", PRELUDE + textwrap.dedent(source)]
    if stall is None:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=environ, check=False)
    read_end, write_end = os.pipe()
    environ["STRESS_PROGRESS_FD"] = str(write_end)
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        os.fdopen(read_end, "rb", 0) as beats,
    ):
        try:
            process = subprocess.Popen(args, stdout=out, stderr=err, env=environ, pass_fds=(write_end,))
        finally:
            os.close(write_end)
        stalled = False
        with process:
            # The pipe ends (EOF) when the child exits: nothing else holds its write end.
            while select.select([beats], [], [], stall)[0]:
                if not beats.read(4096):
                    break
            else:
                stalled = True
                process.kill()
            returncode = process.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if stalled:
        raise subprocess.TimeoutExpired(args, stall, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(args, returncode, stdout, stderr)


def rss_kib() -> int:
    """Resident memory of this process in KiB (Linux: /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
