"""`status.get` round trip over WebSocket next to TCP and the Unix socket, against the real daemon.

Starts the simulated gateway in this process and `posagent run` (with `[ecr] websocket_port`) as a child
process, pairs a web POS origin, then times the same request over the three transports, one after the
other, with blocking clients (EcrClient; wsproto over a plain socket for the WebSocket). Bounded in count
and time.

Run: .venv/bin/python bench/bench_websocket.py
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import AcceptConnection, Message, Ping, Request, TextMessage  # noqa: E402

from agent.ecr.client import EcrClient  # noqa: E402
from agent.ecr.origin_store import OriginStore, store_path  # noqa: E402
from hardware_sim.gateway import GatewaySimulator  # noqa: E402
from tests.support.daemon import TOKEN, Daemon, free_port, write_store_files  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402

ROUND_TRIPS = 2000
MAX_SECONDS_PER_TRANSPORT = 60.0
ORIGIN = "https://pos.example.com"


class BlockingPage:
    """A web POS page reduced to its socket: wsproto over a blocking loopback socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target="/ecr",
                                               extra_headers=[(b"origin", ORIGIN.encode())])))  # fmt: skip
        self._text: list[str] = []
        self._ready: list[dict[str, Any]] = []
        while not any(isinstance(e, AcceptConnection) for e in self._feed()):
            pass

    def _feed(self) -> list[Any]:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the agent closed the WebSocket")
        self.ws.receive_data(data)
        return list(self.ws.events())

    def request(self, op: str, body: dict[str, Any] | None = None, rid: str = "r") -> dict[str, Any]:
        self.sock.sendall(self.ws.send(Message(data=json.dumps({"v": 1, "type": "req", "id": rid, "op": op,
                                                                "body": body or {}}))))  # fmt: skip
        while True:
            for message in self._ready:
                if message.get("type") == "res" and message.get("id") == rid:
                    self._ready.remove(message)
                    return message
            self._ready.clear()  # events (heartbeats): not timed here
            for event in self._feed():
                if isinstance(event, TextMessage):
                    self._text.append(event.data)
                    if event.message_finished:
                        self._ready.append(json.loads("".join(self._text)))
                        self._text = []
                elif isinstance(event, Ping):
                    self.sock.sendall(self.ws.send(event.response()))

    def close(self) -> None:
        self.sock.close()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms   (n={len(ordered)})"


def timed(request: Any) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + MAX_SECONDS_PER_TRANSPORT
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter()
        request("status.get")
        samples.append(time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    return samples


def main() -> None:
    from cryptography.hazmat.primitives import serialization

    public = _APP_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GatewaySimulator(apps={APP_ID: public}) as gateway:
        port, ws_port = free_port(), free_port()
        config = write_store_files(Path(tmp), gateway.url, gateway.alipay_public_key_pem, port)
        config.write_text(config.read_text().replace(
            "heartbeat_seconds = 1.0", f"heartbeat_seconds = 15.0\nwebsocket_port = {ws_port}"))  # fmt: skip
        store = OriginStore(store_path(Path(tmp) / "state"))
        code = store.update(lambda book: book.start_pairing(ORIGIN, time.time(), os.urandom))
        daemon = Daemon(config, port, Path(tmp) / "daemon.log")
        daemon.start()
        try:
            page = BlockingPage(ws_port)
            token = page.request("pair", {"code": code})["body"]["token"]
            assert page.request("hello", {"token": token})["ok"]
            websocket = timed(page.request)
            page.close()
            with daemon.ecr() as ecr:
                tcp = timed(ecr.request)
            with EcrClient.connect(Path(tmp) / "ecr.sock", token=TOKEN) as ecr:
                unix = timed(ecr.request)
        finally:
            daemon.stop()

    print("status.get round trip against the real daemon, one client at a time")
    print(f"  WebSocket (ws://127.0.0.1)   {percentiles(websocket)}")
    print(f"  TCP (NDJSON, 127.0.0.1)      {percentiles(tcp)}")
    print(f"  Unix socket (NDJSON)         {percentiles(unix)}")


if __name__ == "__main__":
    main()
