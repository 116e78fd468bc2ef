"""A small WebSocket client for tests: wsproto over an asyncio loopback stream, like a browser page
(it sends whatever Origin and Host it is told to, as a non-browser program can)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

WAIT = 5.0


@dataclass(frozen=True)
class Refused:
    """The handshake's HTTP answer when it was not an upgrade."""

    status: int
    text: str


@dataclass(frozen=True)
class Closed:
    code: int
    reason: str


class WsClient:
    def __init__(self, ws: WSConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.ws, self.reader, self.writer = ws, reader, writer
        self.pings = 0
        self.answer_pings = True
        self._pending: list[Any] = []
        self.events: list[dict[str, Any]] = []  # events that came while waiting for an answer

    @classmethod
    async def open(cls, port: int, *, origin: str | None = "https://pos.example.com", host: str | None = None,
                   path: str = "/ecr") -> WsClient | Refused:  # fmt: skip
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ws = WSConnection(ConnectionType.CLIENT)
        headers = [(b"origin", origin.encode())] if origin is not None else []
        writer.write(ws.send(Request(host=host or f"127.0.0.1:{port}", target=path, extra_headers=headers)))
        await writer.drain()
        status, body = 0, b""
        while True:
            data = await asyncio.wait_for(reader.read(65536), WAIT)
            if not data:
                writer.close()
                return Refused(status, body.decode())
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    client = cls(ws, reader, writer)
                    client._pending.extend(ws.events())
                    return client
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        writer.close()
                        return Refused(status, "")
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        writer.close()
                        return Refused(status, body.decode())

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.writer.write(self.ws.send(Message(data=text)))
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(self.ws.send(Message(data=data)))
        await self.writer.drain()

    async def request(self, op: str, body: dict[str, Any] | None = None, rid: str = "r") -> dict[str, Any]:
        await self.send({"v": 1, "type": "req", "id": rid, "op": op, "body": body or {}})
        while True:
            answer = await self.recv()
            assert isinstance(answer, dict), answer
            if answer.get("type") != "evt":
                return answer
            self.events.append(answer)

    async def next_event(self, timeout: float = WAIT) -> dict[str, Any]:
        while not self.events:
            message = await self.recv(timeout)
            assert isinstance(message, dict), message
            if message.get("type") == "evt":
                return message
        return self.events.pop(0)

    async def hello(self, token: str, last_seq: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"token": token, "client": "web-pos-test"}
        if last_seq is not None:
            body["last_seq"] = last_seq
        return await self.request("hello", body, rid="hello")

    async def pair(self, code: str) -> dict[str, Any]:
        return await self.request("pair", {"code": code}, rid="pair")

    async def recv(self, timeout: float = WAIT) -> dict[str, Any] | Closed:
        """The next text message, parsed, or how the connection was closed."""
        text: list[str] = []
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        return dict(json.loads("".join(text)))
                elif isinstance(event, Ping):
                    self.pings += 1
                    if self.answer_pings:
                        self.writer.write(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(Exception):
                        self.writer.write(self.ws.send(event.response()))
                    return Closed(event.code, event.reason or "")
                elif isinstance(event, BytesMessage):
                    raise AssertionError("the agent sent a binary frame")
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return Closed(1006, "connection dropped without a close frame")
            self.ws.receive_data(data)
            self._pending.extend(self.ws.events())

    async def closed(self, timeout: float = WAIT) -> Closed:
        """Read until the close; messages before it are skipped."""
        while True:
            message = await self.recv(timeout)
            if isinstance(message, Closed):
                return message

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(self.ws.send(CloseConnection(code=1000)))
        self.writer.close()
