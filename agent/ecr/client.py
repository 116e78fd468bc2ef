"""A small blocking client for the ECR protocol: for technicians (`posagent ecr`), tests and ECR developers.

    with EcrClient.connect(("127.0.0.1", 7410), token=token) as ecr:
        sale = ecr.request("sale.start", {"sale_id": "A1", "amount": "9.90", "subject": "Till 1", "code": code})
        event = ecr.wait_for("sale.updated", lambda body: body["sale"]["final"], timeout=90)
        ecr.request("loyalty.update", {"update_id": "U1", "card_no": card_no, "points": "120",
                                       "occur_time": china_time(datetime.now(UTC))})
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from agent.alipay.envelope import china_timestamp


def china_time(moment: datetime) -> str:
    """An aware moment as occur_time wants it: 'yyyy-MM-dd HH:mm:ss' in China time (UTC+8), whatever this
    PC's zone. (The agent also takes ISO 8601 with its offset: `moment.isoformat()` of an aware datetime.)"""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime has no time zone: use datetime.now(UTC) or give its tzinfo")
    return china_timestamp(moment)


class EcrError(Exception):
    def __init__(self, code: str, message: str, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class EcrClient:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._ids = itertools.count(1)
        self.events: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.hello: dict[str, Any] = {}

    @classmethod
    def connect(cls, address: tuple[str, int] | str | Path, *, token: str, client: str = "ecr-client",
                last_seq: int | None = None, epoch: str | None = None, timeout: float = 10.0) -> EcrClient:  # fmt: skip
        if isinstance(address, tuple):
            sock = socket.create_connection(address, timeout=timeout)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(str(address))
        ecr = cls(sock)
        body: dict[str, Any] = {"token": token, "client": client}
        if last_seq is not None:
            body["last_seq"] = last_seq
        if epoch is not None:
            body["epoch"] = epoch
        ecr.hello = ecr.request("hello", body)
        return ecr

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> EcrClient:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def send_line(self, data: bytes) -> None:
        self._sock.sendall(data)

    def request(self, op: str, body: dict[str, Any] | None = None, *, timeout: float = 30.0) -> dict[str, Any]:
        """Send a request and return its response body, or raise EcrError with the agent's error code."""
        request_id = f"c{next(self._ids)}"
        message = {"v": 1, "type": "req", "id": request_id, "op": op, "body": body or {}}
        self._sock.sendall(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("type") == "evt":
                self.events.append(reply)
                continue
            if reply.get("type") == "res" and reply.get("id") == request_id:
                if reply.get("ok"):
                    return dict(reply.get("body") or {})
                error = reply.get("error") or {}
                raise EcrError(str(error.get("code")), str(error.get("message")), bool(error.get("retryable")))

    def wait_for(self, event: str, predicate: Callable[[dict[str, Any]], bool] = lambda body: True, *,
                 timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
        """The first event (already received or arriving) of this name whose body matches."""
        for seen in list(self.events):
            if seen.get("event") == event and predicate(seen.get("body") or {}):
                self.events.remove(seen)
                return seen
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("type") != "evt":
                continue
            if message.get("event") == event and predicate(message.get("body") or {}):
                return message
            self.events.append(message)

    def _next(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from the agent in time")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the agent closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return dict(json.loads(line))
