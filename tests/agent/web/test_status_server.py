"""The status page as the daemon serves it (`status_server`), over real loopback sockets, under abuse:
slow clients, DNS rebinding, floods of wrong tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest

from agent.guard import FailureThrottle
from agent.web import AllowedHosts, Changes, HttpServer, Sessions, StatusSite, status_server
from tests.agent.web.test_http import RawClient, raw_exchange
from tests.agent.web.test_site import TOKEN, FakeSource
from tests.support.waiting import wait_until


@pytest.fixture
def sessions() -> Sessions:
    # Three wrong tokens answered at once, every later one held back past the end of any test.
    return Sessions(TOKEN, throttle=FailureThrottle(free=3, first_delay=60.0, max_delay=60.0, global_free=10_000))


@pytest.fixture
async def page(sessions: Sessions) -> AsyncIterator[HttpServer]:
    site = StatusSite(
        FakeSource(), sessions, Changes(), hosts=AllowedHosts.for_listener("127.0.0.1", allow_remote=False)
    )
    server = status_server(site, "127.0.0.1", 0)
    await server.start()
    yield server
    await server.close()


def get(path: str, host: str = "127.0.0.1") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def login(token: str, host: str = "127.0.0.1", origin: str | None = None) -> bytes:
    body = urlencode({"token": token}).encode()
    extra = f"Origin: {origin}\r\n" if origin else ""
    return (f"POST /login HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body  # fmt: skip


async def test_slow_connections_from_this_pc_do_not_lock_the_technician_out(page: HttpServer) -> None:
    slow = [await RawClient.open(page) for _ in range(page.limits.max_connections + 16)]
    try:
        for client in slow:
            await client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")

        status, _, body = await raw_exchange(page, get("/healthz"))
        logged_in, headers, _ = await raw_exchange(page, login(TOKEN))

        assert (status, body) == (200, b"ok\n")
        assert logged_in == 303 and "posagent_session=" in headers["set-cookie"]
    finally:
        for client in slow:
            client.close()


@pytest.mark.parametrize("request_bytes", [get("/metrics", "evil.example:7412"), get("/healthz", "evil.example"),
                                           login(TOKEN, "evil.example:7412", "http://evil.example:7412")],
                         ids=["metrics", "healthz", "login"])  # fmt: skip
async def test_a_rebound_name_gets_421_on_every_route(page: HttpServer, request_bytes: bytes) -> None:
    status, _, body = await raw_exchange(page, request_bytes)

    assert status == 421 and b"answers only to localhost, 127.0.0.1, [::1]" in body
    assert b"posagent_" not in body


async def test_metrics_answer_on_a_loopback_name(page: HttpServer) -> None:
    status, _, body = await raw_exchange(page, get("/metrics", "localhost:7412"))

    assert status == 200 and b"posagent_up" in body


async def test_a_flood_of_wrong_tokens_is_held_back_and_the_right_token_still_logs_in(
    page: HttpServer, sessions: Sessions
) -> None:
    guessers: list[RawClient] = []
    try:
        for i in range(page.limits.max_connections + 36):  # more than the connection cap
            guessers.append(await RawClient.open(page))
            await guessers[-1].send(login(f"guess-{i}"))
            await wait_until(lambda: sessions.throttle.total == len(guessers))

        status, headers, _ = await raw_exchange(page, login(TOKEN))

        assert status == 303 and "posagent_session=" in headers["set-cookie"]  # at once, mid-flood
        assert await answered_now(guessers) <= 3  # the free ones; every other answer is still held back
        assert page.slots.held_count == len(guessers) - 3
    finally:
        for client in guessers:
            client.close()


async def test_a_held_wrong_token_answer_is_401_and_closes() -> None:
    sessions = Sessions(TOKEN, throttle=FailureThrottle(free=0, first_delay=0.2, global_free=10_000))
    server = status_server(StatusSite(FakeSource(), sessions, Changes()), "127.0.0.1", 0)
    await server.start()
    try:
        status, headers, body = await raw_exchange(server, login("guess"))

        assert status == 401 and b"wrong token" in body and b"guess" not in body
        assert headers["connection"] == "close"
    finally:
        await server.close()


async def answered_now(clients: list[RawClient]) -> int:
    async def has_answer(client: RawClient) -> bool:
        try:
            return bool(await asyncio.wait_for(client.reader.read(1), 0.2))
        except (TimeoutError, ConnectionError):
            return False

    return sum(await asyncio.gather(*(has_answer(c) for c in clients)))


