"""The socket server over real loopback TCP and a Unix socket: hello, requests, events, replay, limits."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.ecr.events import EventLog
from agent.ecr.messages import ErrorCode, ProtocolError, Request
from agent.ecr.server import Connection, EcrServer, Router, is_loopback

TOKEN = "t0ken"


async def echo(request: Request, connection: Connection) -> dict[str, Any]:
    return {"echo": request.body, "client": connection.client}


async def refuse(request: Request, connection: Connection) -> dict[str, Any]:
    raise ProtocolError(ErrorCode.BUSY, "a sale is active")


async def crash(request: Request, connection: Connection) -> dict[str, Any]:
    raise RuntimeError("bug")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EcrServer]:
    router = Router()
    router.add("echo", echo)
    router.add("refuse", refuse)
    router.add("crash", crash)
    srv = EcrServer(token=TOKEN, router=router, events=EventLog(epoch="e1"), agent_version="test",
                    unix_path=tmp_path / "ecr.sock", hello_deadline=0.5)  # fmt: skip
    await srv.start()
    yield srv
    await srv.close()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), 5)
        assert line, "connection closed"
        return dict(json.loads(line))

    async def request(self, op: str, body: dict[str, Any] | None = None, rid: str = "r") -> dict[str, Any]:
        await self.send({"v": 1, "type": "req", "id": rid, "op": op, "body": body or {}})
        return await self.recv()

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""


async def tcp_client(server: EcrServer) -> Client:
    host, port = server.tcp_address  # type: ignore[misc]
    return Client(*await asyncio.open_connection(host, port))


async def test_hello_then_requests_over_tcp(server: EcrServer) -> None:
    client = await tcp_client(server)
    hello = await client.request("hello", {"token": TOKEN, "client": "till-1"}, rid="h")
    assert hello["ok"] and hello["body"]["epoch"] == "e1"
    answer = await client.request("echo", {"x": 1})
    assert answer == {"v": 1, "type": "res", "id": "r", "ok": True, "body": {"echo": {"x": 1}, "client": "till-1"}}
    refused = await client.request("refuse")
    assert refused["error"] == {"code": "BUSY", "message": "a sale is active", "retryable": True}
    crashed = await client.request("crash")
    assert crashed["error"]["code"] == "INTERNAL"
    unknown = await client.request("nope")
    assert unknown["error"]["code"] == "UNKNOWN_OP"


async def test_the_unix_socket_is_0660_and_serves_the_same_protocol(server: EcrServer, tmp_path: Path) -> None:
    path = tmp_path / "ecr.sock"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    client = Client(*await asyncio.open_unix_connection(str(path)))
    assert (await client.request("hello", {"token": TOKEN}))["ok"]
    assert (await client.request("echo"))["ok"]


async def test_events_reach_authenticated_clients_and_are_replayed(server: EcrServer) -> None:
    first = await tcp_client(server)
    await first.request("hello", {"token": TOKEN})
    server.publish("scan", {"scan_id": "s1"})
    event = await first.recv()
    assert (event["type"], event["event"], event["seq"]) == ("evt", "scan", 1)
    server.publish("scan", {"scan_id": "s2"})
    server.publish("scan", {"scan_id": "s3"})
    later = await tcp_client(server)
    hello = await later.request("hello", {"token": TOKEN, "last_seq": 1, "epoch": "e1"})
    assert hello["body"]["replayed"] == 2 and not hello["body"]["gap"]
    assert [(await later.recv())["body"]["scan_id"] for _ in range(2)] == ["s2", "s3"]


async def test_no_hello_in_time_and_wrong_tokens_close(server: EcrServer) -> None:
    silent = await tcp_client(server)
    assert (await silent.recv())["error"]["code"] == "UNAUTHORIZED"
    assert await silent.closed()
    guesser = await tcp_client(server)
    assert (await guesser.request("hello", {"token": "guess"}))["error"]["code"] == "UNAUTHORIZED"
    assert await guesser.closed()


async def test_http_closes_and_bad_lines_do_not(server: EcrServer) -> None:
    client = await tcp_client(server)
    await client.request("hello", {"token": TOKEN})
    await client.send(b"\xff\xfe\n" + b"[" * 70000 + b"\n")
    assert (await client.recv())["error"]["code"] == "BAD_REQUEST"
    assert (await client.recv())["error"]["code"] == "BAD_REQUEST"
    assert (await client.request("echo"))["ok"]
    browser = await tcp_client(server)
    await browser.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await browser.closed()


def test_only_loopback_peers_are_accepted() -> None:
    assert is_loopback(("127.0.0.1", 5000)) and is_loopback(("::1", 5000, 0, 0))
    assert not is_loopback(("192.168.1.20", 5000)) and not is_loopback(None)
