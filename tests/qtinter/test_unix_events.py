"""Unix-only asyncio features on qtinter loops in owner and guest mode: pipes, subprocesses and
signal handlers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from loop_support import MODES, run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix loop features")


@MODES
def test_read_and_write_pipes(mode: str) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        rfd, wfd = os.pipe()
        reader = asyncio.StreamReader()
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(rfd, "rb", 0)
        )
        write_transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, os.fdopen(wfd, "wb", 0))
        try:
            for chunk in (b"through ", b"a ", b"pipe\n"):
                write_transport.write(chunk)
            return await reader.readline()
        finally:
            write_transport.close()
            read_transport.close()
            await asyncio.sleep(0)

    assert run(mode, main) == b"through a pipe\n"


@MODES
def test_subprocess_with_pipes(mode: str) -> None:
    async def main() -> tuple[bytes, bytes, int | None]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; print(sys.stdin.read().upper()); print('err', file=sys.stderr); sys.exit(3)",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(b"hello subprocess")
        return out, err, proc.returncode

    out, err, code = run(mode, main)
    assert out.strip() == b"HELLO SUBPROCESS"
    assert err.strip() == b"err"
    assert code == 3


@MODES
def test_shell_subprocess_exit_code(mode: str) -> None:
    async def main() -> int:
        proc = await asyncio.create_subprocess_shell("exit 7")
        return await proc.wait()

    assert run(mode, main) == 7


@MODES
def test_add_signal_handler(mode: str) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, lambda: got.set_result("SIGUSR1"))
        try:
            # From another thread, so that the signal arrives while the loop may sleep in Qt.
            await asyncio.to_thread(os.kill, os.getpid(), signal.SIGUSR1)
            first = await got
            got2 = loop.create_future()
            loop.add_signal_handler(signal.SIGUSR2, lambda: got2.set_result("SIGUSR2"))
            loop.remove_signal_handler(signal.SIGUSR1)
            await asyncio.to_thread(os.kill, os.getpid(), signal.SIGUSR2)
            return [first, await got2]
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
            loop.remove_signal_handler(signal.SIGUSR2)

    assert run(mode, main) == ["SIGUSR1", "SIGUSR2"]
