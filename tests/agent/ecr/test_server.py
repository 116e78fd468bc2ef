"""The socket server over real loopback TCP and a Unix socket: hello, requests, events, replay, limits."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.ecr.events import EventLog
from agent.ecr.messages import ErrorCode, ProtocolError, Request
from agent.ecr.server import MAX_UNAUTHENTICATED, Connection, EcrServer, Router, is_loopback
from agent.guard import FailureThrottle
from tests.support.waiting import wait_until

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


# --- wrong tokens and slow connections -------------------------------------------------------------

# Three wrong tokens answered at once, every later one held past the end of any test.
SLOW_SETTINGS: dict[str, Any] = {"free": 3, "first_delay": 60.0, "max_delay": 60.0, "global_free": 10_000}

@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[EcrServer]:
    router = Router()
    router.add("echo", echo)
    srv = EcrServer(token=TOKEN, router=router, events=EventLog(epoch="e1"), agent_version="test",
                    unix_path=tmp_path / "ecr.sock", throttle=FailureThrottle(**SLOW_SETTINGS))  # fmt: skip
    await srv.start()
    yield srv
    await srv.close()


async def answered_now(clients: list[Client]) -> int:
    """How many of these connections have an answer waiting (each gets at most one, then is closed)."""

    async def has_line(client: Client) -> bool:
        try:
            return bool(await asyncio.wait_for(client.reader.readline(), 0.2))
        except (TimeoutError, ConnectionError):
            return False

    return sum(await asyncio.gather(*(has_line(c) for c in clients)))


async def flood_then_log_in(server: EcrServer, connect: Callable[[], Awaitable[Client]], attempts: int) -> None:
    guessers: list[Client] = []
    try:
        for i in range(attempts):  # more than max_unauthenticated: held answers take nobody's room
            guessers.append(await connect())
            await guessers[-1].send({"v": 1, "type": "req", "id": f"g{i}", "op": "hello", "body": {"token": f"g{i}"}})
            await wait_until(lambda: server.throttle.total == len(guessers))

        technician = await connect()
        hello = await technician.request("hello", {"token": TOKEN}, rid="h")
        assert hello["ok"], hello  # the right token, in the middle of the flood, at once
        assert (await technician.request("echo", {"x": 1}))["ok"]

        assert await answered_now(guessers) <= 3  # the free ones; every other answer is still held back
        assert server.unauthenticated.held_count == attempts - 3
    finally:
        for client in guessers:
            client.writer.close()


async def test_a_flood_of_wrong_tokens_over_tcp_is_held_back_and_the_right_token_still_works(
    guarded: EcrServer,
) -> None:
    await flood_then_log_in(guarded, lambda: tcp_client(guarded), MAX_UNAUTHENTICATED + 36)


async def test_a_flood_of_wrong_tokens_over_the_unix_socket_is_held_back_too(guarded: EcrServer, tmp_path: Path) -> None:
    async def connect() -> Client:
        return Client(*await asyncio.open_unix_connection(str(tmp_path / "ecr.sock")))

    await flood_then_log_in(guarded, connect, MAX_UNAUTHENTICATED + 36)  # one user: shedding, never refusal


async def test_a_held_wrong_token_answer_is_unauthorized_then_the_connection_closes(tmp_path: Path) -> None:
    srv = EcrServer(token=TOKEN, router=Router(), events=EventLog(epoch="e1"), agent_version="test",
                    throttle=FailureThrottle(free=0, first_delay=0.2, global_free=10_000))  # fmt: skip
    await srv.start()
    try:
        guesser = await tcp_client(srv)
        answer = await guesser.request("hello", {"token": "guess"})
        assert answer["error"]["code"] == "UNAUTHORIZED" and "guess" not in json.dumps(answer)
        assert await guesser.closed()
    finally:
        await srv.close()


async def test_silent_connections_beyond_the_cap_do_not_keep_the_ecr_out(guarded: EcrServer) -> None:
    silent = [await tcp_client(guarded) for _ in range(MAX_UNAUTHENTICATED + 16)]
    try:
        client = await tcp_client(guarded)
        assert (await client.request("hello", {"token": TOKEN}))["ok"]
        assert len(guarded.unauthenticated) <= MAX_UNAUTHENTICATED
    finally:
        for other in silent:
            other.writer.close()


async def test_unix_socket_peers_are_told_apart_by_user(guarded: EcrServer, tmp_path: Path) -> None:
    client = Client(*await asyncio.open_unix_connection(str(tmp_path / "ecr.sock")))
    await wait_until(lambda: len(guarded.connections) == 1)

    assert next(iter(guarded.connections)).key == f"uid:{os.getuid()}"
    client.writer.close()


