"""The HTTP/1.1 shell over real loopback TCP: requests in, responses out, limits, errors, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h11
import httpx
import pytest

from agent.web.http import MAX_BODY_BYTES, MAX_HEAD_BYTES, HttpServer, Request, Response

WAIT = 5.0  # seconds: only a bound against hanging, never a timing assertion


@dataclass
class Handler:
    """Echoes what the server parsed; /boom raises; /slow waits until released."""

    slow_started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    seen: list[Request] = field(default_factory=list)

    async def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path == "/slow":
            self.slow_started.set()
            await self.release.wait()
        echo = {"method": request.method, "path": request.path, "query": request.query, "form": request.form(),
                "session": request.cookie("session"), "other": request.cookie("other"), "peer": request.peer}  # fmt: skip
        return Response(200, json.dumps(echo).encode(), "application/json", [("X-Test", "yes")])


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def server(handler: Handler) -> AsyncIterator[HttpServer]:
    srv = HttpServer("127.0.0.1", 0, handler)
    await srv.start()
    yield srv
    handler.release.set()
    await srv.close()


def base_url(server: HttpServer) -> str:
    assert server.address is not None
    host, port = server.address
    return f"http://{host}:{port}"


class RawClient:
    """One TCP connection; responses parsed with h11's client side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, server: HttpServer) -> RawClient:
        assert server.address is not None
        reader, writer = await asyncio.open_connection(*server.address)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Raw bytes, for requests h11 would refuse to write; then only one response can be read."""
        self.writer.write(data)
        await self.writer.drain()

    async def get(self, target: str, method: str = "GET") -> tuple[h11.Response, bytes]:
        request = h11.Request(method=method, target=target, headers=[("Host", "localhost")])
        await self.send(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))
        return await self.response()

    async def response(self) -> tuple[h11.Response, bytes]:
        head: h11.Response | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await asyncio.wait_for(self.reader.read(65536), WAIT))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                return head, bytes(body)
            else:
                raise AssertionError(f"connection ended before a response: {event!r}")

    async def closed_by_server(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(), WAIT) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.writer.close()


def headers_of(response: h11.Response) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in response.headers}


async def raw_exchange(server: HttpServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` on a fresh connection, read one response, and check the server hangs up."""
    client = await RawClient.open(server)
    try:
        await client.send(data)
        head, body = await client.response()
        assert await client.closed_by_server()
        return head.status_code, headers_of(head), body
    finally:
        client.close()


async def test_get_with_a_query(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.get("/things/a", params={"after": "12", "name": "a b&c", "empty": ""})

    assert response.status_code == 200
    assert response.headers["x-test"] == "yes"
    echo = response.json()
    assert echo["method"] == "GET" and echo["path"] == "/things/a"
    assert echo["query"] == {"after": "12", "name": "a b&c", "empty": ""}
    assert echo["peer"] == "127.0.0.1"


async def test_post_form_body_is_parsed_by_form(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.post("/login", data={"token": "t 0+k=en&x", "csrf": "c"})

    assert response.json()["form"] == {"token": "t 0+k=en&x", "csrf": "c"}


async def test_form_is_empty_for_other_content_types(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.post("/login", content=b"token=abc", headers={"Content-Type": "text/plain"})

    assert response.json()["form"] == {}


async def test_cookies_are_read_by_name(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.get("/", headers={"Cookie": "other=1; session=abc123"})
        without = await client.get("/")

    assert response.json()["session"] == "abc123" and response.json()["other"] == "1"
    assert without.json()["session"] is None


def test_a_malformed_cookie_header_is_no_error() -> None:
    request = Request("GET", "/", {}, {"cookie": 'session="unterminated; \\x; =; ;'}, b"", "127.0.0.1")

    assert request.cookie("session") != "unterminated"  # whatever it reads, it does not raise
    assert request.cookie("absent") is None


@pytest.mark.parametrize(
    "foreign", ['prefs={"lang":"zh"}', "note=a b", "name=\u00fc"], ids=["json", "space", "non-ascii"]
)
def test_a_foreign_cookie_does_not_hide_the_session_cookie(foreign: str) -> None:
    """Cookies ignore ports: another app on this host (a router page, a dev tool) can set cookies that
    Python's SimpleCookie cannot parse, and browsers send older cookies first."""
    request = Request("GET", "/", {}, {"cookie": f"{foreign}; session=abc123"}, b"", "127.0.0.1")

    assert request.cookie("session") == "abc123"


async def test_two_requests_on_one_keep_alive_connection(server: HttpServer, handler: Handler) -> None:
    client = await RawClient.open(server)
    try:
        first, first_body = await client.get("/first?n=1")
        second, second_body = await client.get("/second")
    finally:
        client.close()

    assert (first.status_code, second.status_code) == (200, 200)
    assert json.loads(first_body)["path"] == "/first" and json.loads(second_body)["path"] == "/second"
    assert [r.path for r in handler.seen] == ["/first", "/second"]


async def test_pipelined_requests_are_answered_in_order(server: HttpServer) -> None:
    client = await RawClient.open(server)
    try:
        await client.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(client.reader.read(), WAIT)
    finally:
        client.close()

    assert data.count(b"HTTP/1.1 200") == 2
    assert 0 < data.index(b'"path": "/a"') < data.index(b'"path": "/b"')


async def test_a_head_request_gets_the_head_only_and_the_connection_goes_on(server: HttpServer) -> None:
    client = await RawClient.open(server)
    try:
        head, head_body = await client.get("/probe", method="HEAD")
        after, after_body = await client.get("/after")
    finally:
        client.close()

    assert head.status_code == 200 and head_body == b""
    assert after.status_code == 200 and json.loads(after_body)["path"] == "/after"


async def test_a_declared_body_over_the_limit_is_413_and_never_reaches_the_handler(
    server: HttpServer, handler: Handler
) -> None:
    head = f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()

    status, _, _ = await raw_exchange(server, head)

    assert status == 413
    assert handler.seen == []


async def test_a_chunked_body_over_the_limit_is_413(server: HttpServer, handler: Handler) -> None:
    size = MAX_BODY_BYTES + 1
    data = (
        f"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{size + 100:x}\r\n".encode()
        + b"a" * size
    )

    status, _, _ = await raw_exchange(server, data)

    assert status == 413
    assert handler.seen == []


async def test_a_body_at_the_limit_is_accepted(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.post("/upload", content=b"x" * MAX_BODY_BYTES)

    assert response.status_code == 200


async def test_a_garbage_request_line_is_400(server: HttpServer, handler: Handler) -> None:
    status, headers, _ = await raw_exchange(server, b"this is not http\r\n\r\n")

    assert status == 400
    assert headers["x-frame-options"] == "DENY"
    assert handler.seen == []


async def test_a_head_over_the_limit_is_refused(server: HttpServer, handler: Handler) -> None:
    # Exactly one byte too many and no blank line: the server reads all of it before refusing.
    start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: "
    data = start + b"a" * (MAX_HEAD_BYTES + 1 - len(start))

    status, _, _ = await raw_exchange(server, data)

    assert status == 431  # h11's hint for "Receive buffer too long"
    assert handler.seen == []


async def test_a_handler_that_raises_is_500_and_the_connection_goes_on(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = await RawClient.open(server)
    try:
        with caplog.at_level(logging.ERROR, logger="agent.web.http"):
            failed, failed_body = await client.get("/boom")
        after, after_body = await client.get("/after")
    finally:
        client.close()

    assert failed.status_code == 500
    assert b"handler bug" not in failed_body  # details go to the log, not to the browser
    assert any("/boom" in r.getMessage() and r.exc_info for r in caplog.records)
    assert after.status_code == 200 and json.loads(after_body)["path"] == "/after"


@pytest.mark.parametrize("path", ["/", "/boom"])
async def test_every_answer_carries_the_security_headers(server: HttpServer, path: str) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.get(path)

    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("no-referrer", "same-origin")  # no URL leaks to other sites


async def test_connection_close_from_the_client_is_honoured(server: HttpServer) -> None:
    client = await RawClient.open(server)
    try:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _ = await client.response()
        assert head.status_code == 200
        assert await client.closed_by_server()
    finally:
        client.close()


async def test_close_ends_a_request_in_progress(server: HttpServer, handler: Handler) -> None:
    address = server.address
    assert address is not None
    client = await RawClient.open(server)
    try:
        await client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(handler.slow_started.wait(), WAIT)

        await asyncio.wait_for(server.close(), WAIT)

        assert await client.closed_by_server()
    finally:
        client.close()
    with pytest.raises(OSError):  # and nothing listens any more
        await asyncio.open_connection(*address)


async def test_too_many_connections_are_answered_503(server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.web.http.MAX_CONNECTIONS", 1)
    first = await RawClient.open(server)
    try:
        assert (await first.get("/"))[0].status_code == 200  # the first connection is being served

        status, _, body = await raw_exchange(server, b"")

        assert status == 503 and b"too many connections" in body
    finally:
        first.close()
