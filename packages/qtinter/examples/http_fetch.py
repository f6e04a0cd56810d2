"""Fetch a web page over asyncio streams from a Qt window, without freezing it.

The example starts its own small HTTP server (asyncio.start_server on 127.0.0.1) so that it needs no
network. The Fetch button's slot disables the button, opens a connection with
``asyncio.open_connection``, sends a GET request, shows the response and enables the button again.
Guest mode. Run ``python http_fetch.py --demo`` to watch it fetch once and quit.
"""

from __future__ import annotations

import asyncio
import sys

from qt import QtCore, QtWidgets  # import the Qt binding before qtinter

import qtinter

DEMO = "--demo" in sys.argv
PAGE = b"Hello from asyncio, served while Qt runs.\n"


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP/1.1 server: one request per connection."""
    request_line = await reader.readline()
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # skip the headers
    path = request_line.split()[1] if len(request_line.split()) > 1 else b"/"
    body = PAGE if path == b"/" else b"not found\n"
    status = b"200 OK" if path == b"/" else b"404 Not Found"
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n")
    writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def fetch(host: str, port: int, path: str) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status = (await reader.readline()).decode().strip()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()


class Window(QtWidgets.QWidget):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("HTTP fetch")
        self.url = QtWidgets.QLineEdit()
        self.button = QtWidgets.QPushButton("Fetch")
        self.output = QtWidgets.QPlainTextEdit()
        self.output.setReadOnly(True)
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (self.url, self.button, self.output):
            layout.addWidget(widget)
        self.button.clicked.connect(qtinter.asyncslot(self.on_fetch))
        self.server: asyncio.Server | None = None

    async def start_server(self) -> None:
        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url.setText(f"http://127.0.0.1:{port}/")

    async def on_fetch(self) -> None:
        self.button.setEnabled(False)
        try:
            url = QtCore.QUrl(self.url.text())
            status, body = await fetch(url.host(), url.port(80), url.path() or "/")
            self.output.setPlainText(f"{status}\n\n{body.decode(errors='replace')}")
        except OSError as exc:
            self.output.setPlainText(f"failed: {exc}")
        finally:
            self.button.setEnabled(True)


def main() -> None:
    app = QtWidgets.QApplication(sys.argv[:1])
    window = Window()
    window.show()

    async def start() -> None:
        await window.start_server()
        if DEMO:
            window.button.click()
            while not window.button.isEnabled():
                await asyncio.sleep(0.01)
            print(window.output.toPlainText())
            app.quit()

    def stop_server() -> None:
        if window.server is not None:
            window.server.close()  # stop listening before the loop goes away

    app.aboutToQuit.connect(stop_server)
    with qtinter.using_asyncio_from_qt():
        QtCore.QTimer.singleShot(0, qtinter.asyncslot(start))
        app.exec()


if __name__ == "__main__":
    main()
