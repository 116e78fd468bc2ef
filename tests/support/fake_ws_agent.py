"""A scripted stand-in for the agent's WebSocket listener (wsproto over plain sockets), for testing the
JavaScript client in a real browser where the real agent cannot be made to misbehave on cue: answers
held, errors on demand, replays that repeat an event, connections dropped mid-request."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, Request, TextMessage
from wsproto.utilities import LocalProtocolError

PAIRING_CODE = "ABCD-EFGH"
ORIGIN_TOKEN = "origin-token-" + "y" * 24


@dataclass
class Peer:
    sock: socket.socket
    ws: WSConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    authenticated: bool = False

    def send(self, message: dict[str, Any]) -> None:
        # closing or closed: the test drops connections on purpose
        with self.lock, contextlib.suppress(OSError, LocalProtocolError):
            self.sock.sendall(self.ws.send(Message(data=json.dumps(message))))


class FakeAgent:
    """Events numbered within an epoch and kept for replay, as the agent does; knobs for the test."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.url = f"ws://127.0.0.1:{self.port}/ecr"
        self.epoch = "e1"
        self.seq = 0
        self.kept: list[dict[str, Any]] = []
        self.peers: list[Peer] = []
        self.requests: list[dict[str, Any]] = []  # every request received, in order
        self.busy_answers: dict[str, int] = {}  # op -> how many BUSY answers before the real one
        self.silent_ops: set[str] = set()  # ops left unanswered (until the connection drops)
        self.replay_one_more = False  # replay also the event at last_seq (a repeat the client must drop)
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.server.close()
        self.drop_all()

    # ---- knobs ----

    def emit(self, event: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.seq += 1
            message = {"v": 1, "type": "evt", "seq": self.seq, "epoch": self.epoch, "event": event, "body": body}
            self.kept.append(message)
            peers = [p for p in self.peers if p.authenticated]
        for peer in peers:
            peer.send(message)

    def drop_all(self) -> None:
        with self.lock:
            peers, self.peers = self.peers, []
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
            peer.sock.close()

    def close_all(self, code: int, reason: str) -> None:
        """Close every connection with a WebSocket close frame, as the agent does on a policy decision."""
        with self.lock:
            peers, self.peers = self.peers, []
        for peer in peers:
            with peer.lock, contextlib.suppress(OSError, LocalProtocolError):
                peer.sock.sendall(peer.ws.send(CloseConnection(code=code, reason=reason)))

    def restart(self) -> None:
        """A new epoch, nothing kept: as after the agent restarted."""
        self.drop_all()
        with self.lock:
            self.epoch, self.seq, self.kept = self.epoch + "x", 0, []

    # ---- inside ----

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        peer = Peer(sock, WSConnection(ConnectionType.SERVER))
        with self.lock:
            self.peers.append(peer)
        try:
            while data := sock.recv(65536):
                peer.ws.receive_data(data)
                for event in peer.ws.events():
                    if isinstance(event, Request):
                        with peer.lock:
                            sock.sendall(peer.ws.send(AcceptConnection()))
                    elif isinstance(event, TextMessage):
                        self._handle(peer, json.loads(event.data))
                    elif isinstance(event, Ping):
                        with peer.lock:
                            sock.sendall(peer.ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        return
        except OSError:
            return
        finally:
            with self.lock:
                if peer in self.peers:
                    self.peers.remove(peer)
            sock.close()

    def _handle(self, peer: Peer, request: dict[str, Any]) -> None:
        op, body, rid = request.get("op"), request.get("body") or {}, request.get("id")
        self.requests.append(request)

        def ok(answer: dict[str, Any]) -> None:
            peer.send({"v": 1, "type": "res", "id": rid, "ok": True, "body": answer})

        def error(code: str, message: str, retryable: bool) -> None:
            peer.send({"v": 1, "type": "res", "id": rid, "ok": False,
                       "error": {"code": code, "message": message, "retryable": retryable}})  # fmt: skip

        if op == "pair":
            if body.get("code") == PAIRING_CODE:
                ok({"origin": "test", "token": ORIGIN_TOKEN})
            else:
                error("UNAUTHORIZED", "wrong pairing code", False)
        elif op == "hello":
            if body.get("token") != ORIGIN_TOKEN:
                error("UNAUTHORIZED", "wrong token", False)
                return
            with self.lock:
                last = body.get("last_seq")
                if last is None:
                    replay: list[dict[str, Any]] = []
                elif body.get("epoch") == self.epoch:
                    replay = [e for e in self.kept if e["seq"] > last - (1 if self.replay_one_more else 0)]
                else:
                    replay = list(self.kept)
                gap = last is not None and body.get("epoch") != self.epoch
                ok({"epoch": self.epoch, "seq": self.seq, "agent_version": "fake", "replayed": len(replay),
                    "gap": gap})  # fmt: skip
                for message in replay:
                    peer.send(message)
                peer.authenticated = True
        elif op in self.silent_ops:
            return
        elif self.busy_answers.get(str(op), 0) > 0:
            self.busy_answers[str(op)] -= 1
            error("BUSY", "another sale is active", True)
        elif op == "sale.get" and body.get("sale_id") == "missing":
            error("NOT_FOUND", "no such sale", False)
        else:
            ok({"echo": op, "body": body})
