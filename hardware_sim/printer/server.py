"""Raw TCP transport (port 9100 on real network printers), run in one background thread.

One connection at a time, like real network printers: while a client is connected, a second
connection is not accepted; it waits in the listen backlog (its connect succeeds, nothing it
sends is read) and is served when the first one closes. The end of a connection ends the job in
progress.

Link faults: `stall` stops reading (the client's writes block once the socket buffers fill; the
receive buffer is kept small so that happens after tens of kilobytes, not megabytes); `slow_bps`
reads at most that many bytes per second; a full printer buffer (paper out with a long job
pending) stops reading too.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from hardware_sim.printer.device import SimulatedPrinter
from hardware_sim.printer.pacing import ReadPacer

SOCKET_RECEIVE_BUFFER = 16 * 1024
_TICK = 0.02  # seconds between checks of states set from other threads
_CHUNK = 4096


class TcpPrinterServer:
    def __init__(self, printer: SimulatedPrinter, host: str = "127.0.0.1", port: int = 9100) -> None:
        self.printer = printer
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: a stalled printer pushes back on the writer quickly.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_RECEIVE_BUFFER)
        self._listener.bind((host, port))
        self._listener.listen(8)
        self._listener.setblocking(False)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._client: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"printer-sim:{self.port}", daemon=True)
        self.connections = 0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._drop_client(end_job=True)
        self._listener.close()

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        pacer = ReadPacer(self.printer)
        with selectors.DefaultSelector() as selector:
            while not self._stop.is_set():
                budget = pacer.budget(_CHUNK)
                want = self._client if self._client is not None else self._listener
                reading = self._client is None or budget > 0
                if reading:
                    selector.register(want, selectors.EVENT_READ)
                    ready = selector.select(_TICK)
                    selector.unregister(want)
                else:
                    self._stop.wait(_TICK)
                    ready = []
                if not ready:
                    continue
                if self._client is None:
                    self._accept()
                else:
                    pacer.spent(self._read(budget))

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        client.setblocking(False)
        self._client = client
        self.connections += 1
        self.printer.attach_replies(self._send)

    def _read(self, limit: int) -> int:
        assert self._client is not None
        try:
            data = self._client.recv(max(1, limit))
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            data = b""
        if not data:
            self._drop_client(end_job=True)
            return 0
        replies = self.printer.receive(data)
        if replies:
            self._send(replies)
        return len(data)

    def _send(self, data: bytes) -> None:
        """Send status bytes; a client that does not read them loses them (as on a real link)."""
        with self._send_lock:
            client = self._client
            if client is None:
                return
            with contextlib.suppress(OSError):
                client.send(data)

    def _drop_client(self, end_job: bool) -> None:
        with self._send_lock:
            client, self._client = self._client, None
        if client is None:
            return
        self.printer.attach_replies(None)
        with contextlib.suppress(OSError):
            client.close()
        if end_job:
            self.printer.end_of_stream()
