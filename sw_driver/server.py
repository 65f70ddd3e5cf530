"""Serve a board's byte stream on a local TCP port, as a serial port would carry it.

The served board is any object with ``write(bytes)`` and ``read(limit) -> bytes``: the
command layer in Python (:class:`~.board_model.BoardModel`) or a simulated board. The driver
connects through pyserial's ``socket://127.0.0.1:PORT`` exactly as to ``/dev/ttyUSB1``. One
host at a time; when it disconnects the board keeps running (a GENERATE runs to its end, its
characters dropped as a UART's would be), and the next host finds it ready.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading

__all__ = ["BoardServer"]

log = logging.getLogger("snnfpga.server")


class BoardServer:
    """A TCP server in a background thread; ``port`` is the one it listens on."""

    def __init__(self, board, port: int = 0, host: str = "127.0.0.1"):
        self.board = board
        self._sock = socket.create_server((host, port))
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="board-server", daemon=True)

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> BoardServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> BoardServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        client: socket.socket | None = None
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.005):
                if key.fileobj is self._sock:
                    conn, addr = self._sock.accept()
                    if client is not None:   # one host at a time: the newest wins
                        sel.unregister(client)
                        client.close()
                    log.info("host connected from %s", addr)
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    client = conn
                    sel.register(client, selectors.EVENT_READ)
                else:
                    try:
                        data = client.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        log.info("host disconnected")
                        sel.unregister(client)
                        client.close()
                        client = None
                        continue
                    self.board.write(data)
            out = self.board.read(4096)
            if out and client is not None:
                try:
                    client.setblocking(True)
                    client.sendall(out)
                    client.setblocking(False)
                except OSError:
                    sel.unregister(client)
                    client.close()
                    client = None
        if client is not None:
            client.close()
        sel.close()
