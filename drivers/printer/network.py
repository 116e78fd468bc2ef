"""Raw TCP (port 9100): the network printer transport.

Not python-escpos's Network class: it is IPv4-only and its `sendall` cannot say how many bytes
went out before a timeout, which is exactly what decides whether a job may be re-sent. A small
send buffer keeps what sits unsent in the kernel (and so the uncertainty) small.
"""

from __future__ import annotations

import contextlib
import socket

from drivers.printer.transport import LinkTransport
from drivers.printer.uri import TcpAddress

SEND_BUFFER = 16 * 1024


class NetworkTransport(LinkTransport):
    exclusive = True  # network printers serve one connection at a time
    bytes_per_second = 50_000.0

    def __init__(self, address: TcpAddress, connect_timeout: float = 5.0) -> None:
        super().__init__()
        self.address = address
        self.name = str(address)
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None

    def _open(self) -> None:
        sock = socket.create_connection((self.address.host, self.address.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # status queries go out at once
        self._sock = sock

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _send(self, chunk: bytes, timeout: float) -> int:
        sock = self._socket()
        sock.settimeout(timeout)
        try:
            return sock.send(chunk)
        except TimeoutError:
            return 0  # a timed-out send() sent nothing

    def _recv(self, timeout: float) -> bytes:
        sock = self._socket()
        sock.settimeout(timeout)
        try:
            data = sock.recv(256)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionResetError("the printer closed the connection")
        return data

    def _discard_input(self) -> None:
        sock = self._socket()
        sock.setblocking(False)
        try:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while sock.recv(4096):
                    pass
        finally:
            sock.setblocking(True)

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionError("not connected")
        return self._sock
