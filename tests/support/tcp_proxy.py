"""A TCP forwarder on loopback that can play a dead line: between a till and its broker, so the till's
network can be cut while the relay still reaches the broker.

    with TcpProxy(("127.0.0.1", broker.port)) as proxy:   # point the till at proxy.port
        proxy.freeze()   # the line goes dead: nothing passes either way, no reset, new connections hang
        proxy.thaw()     # the line is back: the dead connections are closed, new ones pass again
        proxy.lose_outbound()  # what the till sends is lost on the way (its acknowledgements never arrive)
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from types import TracebackType


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.setblocking(False)
        self.port = int(self._server.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []  # accepted while frozen: never answered
        self._frozen = False
        self._outbound_lost = False
        self._clients: set[socket.socket] = set()  # the till's side of each connection
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def lose_outbound(self) -> None:
        with self._lock:
            self._outbound_lost = True

    def thaw(self) -> None:
        with self._lock:
            self._frozen = self._outbound_lost = False
            self._clients.clear()
            for sock in [*self._pairs, *self._held]:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
                sock.close()
            self._pairs.clear()
            self._held.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.thaw()
        self._server.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._frozen:  # hold new connections, read nothing (the kernel's buffers fill, then silence)
                with self._lock:
                    self._accept()
                time.sleep(0.05)
                continue
            for key, _ in self._selector.select(timeout=0.1):
                with self._lock:
                    if key.fileobj is self._server:
                        self._accept()
                    elif not self._frozen:
                        self._pump(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            client, _ = self._server.accept()
        except OSError:
            return
        if self._frozen:
            self._held.append(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
        self._pairs[client], self._pairs[upstream] = upstream, client
        self._clients.add(client)
        self._selector.register(client, selectors.EVENT_READ, None)
        self._selector.register(upstream, selectors.EVENT_READ, None)

    def _pump(self, sock: socket.socket) -> None:
        other = self._pairs.get(sock)
        if other is None:
            return
        try:
            data = sock.recv(65536)
            if data and self._outbound_lost and sock in self._clients:
                return  # lost on the way
            if data:
                other.setblocking(True)
                other.sendall(data)
                other.setblocking(False)
                return
        except OSError:
            pass
        for end in (sock, other):  # one side closed: close both
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(end)
            self._pairs.pop(end, None)
            end.close()
