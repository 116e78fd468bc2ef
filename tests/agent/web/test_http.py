"""The HTTP/1.1 shell over real loopback TCP: requests in, responses out, limits, errors, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h11
import httpx
import pytest

from agent.web.hosts import AllowedHosts
from agent.web.http import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_QUERY_FIELDS,
    HttpServer,
    Limits,
    Request,
    Response,
)
from tests.support.waiting import wait_until

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


async def test_a_handler_that_raises_is_500_with_one_short_log_line_and_the_connection_closes(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="agent.web.http"):
        status, headers, body = await raw_exchange(server, b"GET /boom?secret=hunter2 HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == 500 and headers["connection"] == "close"
    assert b"handler bug" not in body  # details go to the log, not to the browser
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1 and "/boom" in lines[0].getMessage() and "RuntimeError" in lines[0].getMessage()
    assert lines[0].exc_info is None and "hunter2" not in lines[0].getMessage()  # no traceback, no query


async def test_the_server_serves_on_after_a_handler_failed(server: HttpServer) -> None:
    await raw_exchange(server, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
    client = await RawClient.open(server)
    try:
        assert (await client.get("/after"))[0].status_code == 200
    finally:
        client.close()


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


async def test_when_every_connection_is_busy_a_newcomer_is_answered_503(handler: Handler) -> None:
    server = HttpServer("127.0.0.1", 0, handler, limits=Limits(max_connections=1))
    await server.start()
    first = await RawClient.open(server)
    try:
        await first.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(handler.slow_started.wait(), WAIT)  # the only slot is busy being served

        status, headers, body = await raw_exchange(server, b"")

        assert status == 503 and b"too many connections" in body and headers["connection"] == "close"
    finally:
        first.close()
        handler.release.set()
        await server.close()


async def test_an_idle_keep_alive_connection_makes_room_for_a_newcomer(handler: Handler) -> None:
    server = HttpServer("127.0.0.1", 0, handler, limits=Limits(max_connections=1))
    await server.start()
    first = await RawClient.open(server)
    try:
        assert (await first.get("/"))[0].status_code == 200  # now idle, waiting for its next request

        status, _, _ = await raw_exchange(server, b"GET /new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

        assert status == 200
        assert await first.closed_by_server()
    finally:
        first.close()
        await server.close()


# --- abuse: slow clients, oversized heads, odd queries, rebinding, held answers -----------------------


async def test_slow_connections_beyond_the_cap_do_not_lock_out_a_normal_request(server: HttpServer) -> None:
    """Slowloris from this PC: every local process is 127.0.0.1, so shedding (not a per-address cap) keeps it up."""
    slow = [await RawClient.open(server) for _ in range(server.limits.max_connections + 16)]
    try:
        for client in slow:
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # a head that never ends

        async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as http:
            response = await http.get("/after-the-flood")

        assert response.status_code == 200
        assert len(server.slots) <= server.limits.max_connections
    finally:
        for client in slow:
            client.close()


async def test_a_head_trickled_byte_by_byte_gets_408_at_its_deadline(handler: Handler) -> None:
    server = HttpServer("127.0.0.1", 0, handler, limits=Limits(head_seconds=0.5, idle_seconds=30))
    await server.start()
    client = await RawClient.open(server)
    try:
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        for _ in range(200):  # 20 s of trickling at most: each byte would restart an idle timer
            try:
                await client.send(b"X")
            except ConnectionError:
                break
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(client.reader.read(1024), 0.1)
            if answer:
                break

        assert answer.startswith(b"HTTP/1.1 408")
        assert handler.seen == []
    finally:
        client.close()
        await server.close()


async def test_an_idle_connection_that_never_sends_is_closed_without_an_answer(handler: Handler) -> None:
    server = HttpServer("127.0.0.1", 0, handler, limits=Limits(head_seconds=0.2))
    await server.start()
    client = await RawClient.open(server)
    try:
        assert await asyncio.wait_for(client.reader.read(), WAIT) == b""
    finally:
        client.close()
        await server.close()


async def test_a_whole_head_over_the_limit_in_one_piece_is_431(server: HttpServer, handler: Handler) -> None:
    filler = b"X-Filler: " + b"a" * (MAX_HEAD_BYTES + 100) + b"\r\n"

    status, _, body = await raw_exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + filler + b"\r\n")

    assert status == 431 and b"too large" in body
    assert handler.seen == []


async def test_a_head_just_under_the_limit_is_served(server: HttpServer) -> None:
    start = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: "
    data = start + b"a" * (MAX_HEAD_BYTES - len(start) - 4) + b"\r\n\r\n"
    assert len(data) == MAX_HEAD_BYTES

    status, _, _ = await raw_exchange(server, data)

    assert status == 200


async def test_too_many_header_fields_are_431(server: HttpServer, handler: Handler) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS + 1))

    status, _, body = await raw_exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")

    assert status == 431 and b"too many header fields" in body
    assert handler.seen == []


async def test_too_many_query_parameters_are_400_with_a_text_and_no_traceback(
    server: HttpServer, handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    query = "&".join(f"p{i}=1" for i in range(MAX_QUERY_FIELDS + 1))

    with caplog.at_level(logging.DEBUG):
        status, _, body = await raw_exchange(server, f"GET /?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    assert status == 400 and b"too many query parameters" in body
    assert handler.seen == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_repeated_query_parameter_is_400(server: HttpServer, handler: Handler) -> None:
    status, _, body = await raw_exchange(server, b"GET /?after=1&after=2 HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == 400 and b"given twice" in body
    assert handler.seen == []


async def test_a_form_with_too_many_fields_is_400_not_500(server: HttpServer) -> None:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=WAIT) as client:
        response = await client.post("/login", data={f"f{i}": "1" for i in range(MAX_QUERY_FIELDS + 1)})

    assert response.status_code == 400 and "too many form parameters" in response.text


async def test_two_host_headers_are_400(server: HttpServer, handler: Handler) -> None:
    status, _, _ = await raw_exchange(server, b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n")

    assert status == 400
    assert handler.seen == []


@pytest.fixture
async def guarded(handler: Handler) -> AsyncIterator[HttpServer]:
    srv = HttpServer("127.0.0.1", 0, handler, hosts=AllowedHosts(["till-3.shop.lan"]))
    await srv.start()
    yield srv
    await srv.close()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7412", "localhost.evil.example", "127.0.0.1.nip.io",
                                  "10.0.0.5:7412", "[::1", "localhost:http", ""])  # fmt: skip
async def test_a_host_that_is_not_this_pc_is_421_before_any_handler(
    guarded: HttpServer, handler: Handler, host: str
) -> None:
    status, _, body = await raw_exchange(guarded, f"GET /metrics HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())

    assert status == 421 and b"answers only to" in body
    assert handler.seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:7412", "127.1.2.3:80", "localhost:7412", "LocalHost",
                                  "[::1]:7412", "till-3.shop.lan:7412"])  # fmt: skip
async def test_loopback_and_configured_names_are_served(guarded: HttpServer, host: str) -> None:
    status, _, _ = await raw_exchange(guarded, f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())

    assert status == 200


async def test_an_http_1_0_request_without_host_is_served(guarded: HttpServer) -> None:
    status, _, _ = await raw_exchange(guarded, b"GET / HTTP/1.0\r\n\r\n")

    assert status == 200


@dataclass
class Holding:
    """/held answers 401 after `hold` seconds (as a wrong token does); anything else is 200 at once."""

    hold: float = 30.0
    answered: list[str] = field(default_factory=list)

    async def __call__(self, request: Request) -> Response:
        if request.path.startswith("/held"):
            return Response(401, request.path.encode(), "text/plain", hold=self.hold)
        return Response(200, b"ok", "text/plain")


async def test_held_answers_take_no_room_from_other_clients() -> None:
    server = HttpServer("127.0.0.1", 0, Holding(), limits=Limits(max_connections=2))
    await server.start()
    held: list[RawClient] = []
    try:
        for i in range(4):  # twice max_connections, one after the other
            held.append(await RawClient.open(server))
            await held[-1].send(f"GET /held/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await wait_until(lambda: server.slots.held_count == len(held))

        status, _, _ = await raw_exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

        assert status == 200
    finally:
        for client in held:
            client.close()
        await server.close()


async def test_beyond_the_held_pool_the_oldest_held_answer_is_sent_and_its_connection_closed() -> None:
    server = HttpServer("127.0.0.1", 0, Holding(), limits=Limits(max_held=1))
    await server.start()
    first, second = await RawClient.open(server), await RawClient.open(server)
    try:
        await first.send(b"GET /held/first HTTP/1.1\r\nHost: x\r\n\r\n")
        await wait_until(lambda: server.slots.held_count == 1)
        await second.send(b"GET /held/second HTTP/1.1\r\nHost: x\r\n\r\n")

        head, body = await first.response()

        assert head.status_code == 401 and body == b"/held/first"
        assert headers_of(head)["connection"] == "close" and await first.closed_by_server()
        assert server.slots.held_count == 1  # the second one is still held
    finally:
        first.close()
        second.close()
        await server.close()


