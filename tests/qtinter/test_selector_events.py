"""I/O on qtinter loops in owner and guest mode: sockets, streams, SSL, readers added by Qt code,
and the helper-thread fallback for selectors without a pollable descriptor."""

from __future__ import annotations

import asyncio
import selectors
import socket
import ssl
import time
from typing import Any

import pytest
from loop_support import MODES, TIMEOUT, app, exec_app, run

import qtinter
from qtinter.bindings import QtCore

LIMIT = 1 << 21  # stream buffer limit: room for the 1 MB line


async def echo_round_trips(
    ssl_server: ssl.SSLContext | None = None, ssl_client: ssl.SSLContext | None = None
) -> list[bytes]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.readline():
            writer.write(data.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_server, limit=LIMIT)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            port,
            ssl=ssl_client,
            server_hostname="localhost" if ssl_client else None,
            limit=LIMIT,
        )
        replies = []
        for i in range(50):
            writer.write(b"message %d\n" % i)
            await writer.drain()
            replies.append(await reader.readline())
        big = b"x" * 1_000_000 + b"\n"  # more than a socket buffer: exercises write pausing
        writer.write(big)
        await writer.drain()
        replies.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
    return replies


@MODES
def test_tcp_streams_over_loopback(mode: str) -> None:
    replies = run(mode, echo_round_trips)
    assert replies[:50] == [b"MESSAGE %d\n" % i for i in range(50)]
    assert replies[50] == b"X" * 1_000_000 + b"\n"


@MODES
def test_ssl_streams_over_loopback(mode: str) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    replies = run(mode, lambda: echo_round_trips(server_ctx, client_ctx))
    assert replies[:50] == [b"MESSAGE %d\n" % i for i in range(50)]
    assert len(replies[50]) == 1_000_001


@MODES
def test_low_level_socket_operations(mode: str) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            await loop.sock_sendall(a, b"ping")
            data = await loop.sock_recv(b, 4)
            await loop.sock_sendall(b, data + b"-pong")
            return await loop.sock_recv(a, 100)

    assert run(mode, main) == b"ping-pong"


@MODES
def test_datagrams(mode: str) -> None:
    async def main() -> tuple[bytes, Any]:
        loop = asyncio.get_running_loop()
        received: asyncio.Future[tuple[bytes, Any]] = loop.create_future()

        class Server(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                received.set_result((data, addr))

        server, _ = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))
        client, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=server.get_extra_info("sockname")
        )
        client.sendto(b"datagram")
        try:
            return await received
        finally:
            client.close()
            server.close()

    data, _addr = run(mode, main)
    assert data == b"datagram"


def test_reader_added_by_qt_code_while_the_guest_loop_sleeps() -> None:
    received: list[bytes] = []
    a, b = socket.socketpair()
    with a, b, qtinter.using_asyncio_from_qt() as loop:
        b.setblocking(False)

        def on_readable() -> None:
            received.append(b.recv(100))
            loop.remove_reader(b)
            app().exit(0)

        timers = [
            QtCore.QTimer.singleShot(10, lambda: loop.add_reader(b, on_readable)),
            QtCore.QTimer.singleShot(30, lambda: a.send(b"hello from Qt")),
        ]
        guard = QtCore.QTimer()
        guard.setSingleShot(True)
        guard.timeout.connect(lambda: app().exit(1))
        guard.start(int(TIMEOUT * 1000))
        exec_app()
        guard.stop()
        del timers
    assert received == [b"hello from Qt"]


@pytest.mark.parametrize("selector_cls", [selectors.SelectSelector, selectors.PollSelector])
@MODES
def test_selectors_without_a_pollable_descriptor_use_a_helper_thread(mode: str, selector_cls: type) -> None:
    # The path Windows' selector loop takes (no epoll/kqueue descriptor for Qt to watch).
    def factory() -> qtinter.QiBaseEventLoop:
        return qtinter.QiSelectorEventLoop(selector_cls())

    async def main() -> tuple[list[bytes], str]:
        loop = asyncio.get_running_loop()
        assert type(loop._selector.inner) is selector_cls  # type: ignore[attr-defined]
        replies = await echo_round_trips()

        # A threadsafe call and a timer still wake the loop.
        done = loop.create_future()
        loop.call_later(0.01, lambda: threading_call(loop, done))
        return replies, await done

    replies, result = run(mode, main, factory)
    assert replies[:50] == [b"MESSAGE %d\n" % i for i in range(50)]
    assert result == "from a thread"


def threading_call(loop: asyncio.AbstractEventLoop, done: asyncio.Future[str]) -> None:
    import threading

    threading.Thread(target=lambda: loop.call_soon_threadsafe(done.set_result, "from a thread")).start()


@pytest.mark.parametrize("selector_cls", [selectors.SelectSelector, selectors.PollSelector])
@MODES
def test_helper_thread_never_keeps_a_closed_socket_alive(mode: str, selector_cls: type) -> None:
    # A descriptor the helper thread still waits on stays open in the kernel: a closed listening
    # socket would keep accepting connections. The helper must have left its wait when the loop runs.
    async def main() -> str:
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.setblocking(False)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = listener.getsockname()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(loop.sock_accept(listener), 0.05)
        listener.close()
        with socket.socket() as client:
            client.setblocking(False)
            try:
                await loop.sock_connect(client, address)
            except ConnectionRefusedError:
                return "refused"
        return "connected to a closed listener"

    assert run(mode, main, lambda: qtinter.QiSelectorEventLoop(selector_cls())) == "refused"


@MODES
def test_bursts_of_threadsafe_calls_all_run(mode: str) -> None:
    # Cross-thread calls share one pending wake-up: none may be lost when a call races the loop's
    # draining of the self-pipe, while the loop sleeps or while it runs.
    threads, per_thread = 4, 5000

    async def main() -> int:
        import threading

        loop = asyncio.get_running_loop()
        done = loop.create_future()
        ran = 0

        def tick() -> None:
            nonlocal ran
            ran += 1
            if ran == threads * per_thread:
                done.set_result(ran)

        def produce() -> None:
            for i in range(per_thread):
                loop.call_soon_threadsafe(tick)
                if i % 64 == 0:
                    time.sleep(0.0002)  # let the loop drain and go to sleep now and then

        workers = [threading.Thread(target=produce) for _ in range(threads)]
        for worker in workers:
            worker.start()
        try:
            return await asyncio.wait_for(done, TIMEOUT)
        finally:
            for worker in workers:
                worker.join()

    assert run(mode, main) == threads * per_thread


def test_threadsafe_wake_up_left_undelivered_by_qt_does_not_block_a_native_run() -> None:
    # While Qt drives the loop, a cross-thread call wakes it through a queued Qt signal. When Qt's
    # loop ends before delivering it, the next run (here natively, with no Qt loop at all) must still
    # be woken by later cross-thread calls.
    import threading

    loop = qtinter.new_event_loop()
    try:

        async def post_and_stop() -> None:
            thread = threading.Thread(target=lambda: loop.call_soon_threadsafe(lambda: None))
            thread.start()
            thread.join()  # the wake-up is queued in Qt; the loop stops before Qt delivers it

        loop.run_until_complete(post_and_stop())
        loop.set_mode(qtinter.QiLoopMode.NATIVE)

        async def woken_from_a_thread() -> str:
            done = loop.create_future()

            def later() -> None:
                time.sleep(0.05)  # the loop is blocked in select by then
                loop.call_soon_threadsafe(done.set_result, "woken")

            threading.Thread(target=later).start()
            return await asyncio.wait_for(done, 5.0)

        assert loop.run_until_complete(woken_from_a_thread()) == "woken"
    finally:
        loop.close()
