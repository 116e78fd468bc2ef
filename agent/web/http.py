"""A small HTTP/1.1 server: h11 does the protocol, this module only moves bytes.

Enough for the status page and /metrics on a store PC: keep-alive, bounded heads and bodies, idle
timeouts, a cap on connections. Handlers are `async (Request) -> Response`; a handler that raises
answers 500 and the connection goes on serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import h11

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
IDLE_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 64

# Every answer: nothing cached, nothing framed, nothing sniffed, scripts and styles from here only.
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),  # no-referrer would make browsers send "Origin: null"
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'"),
)  # fmt: skip


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes
    peer: str
    target: str = ""  # as sent: path and query, for handlers that must see repeated parameters

    def form(self) -> dict[str, str]:
        if not self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return {}
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {}
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=20))

    def cookie(self, name: str) -> str | None:
        # By hand: SimpleCookie stops at the first cookie it cannot parse, and other apps on this host share our jar.
        for pair in self.headers.get("cookie", "").split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key == name:
                return value
        return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(HTTPStatus.SEE_OTHER, b"", "text/plain; charset=utf-8", [("Location", location)])


Handler = Callable[[Request], Awaitable[Response]]


class _TooLarge(Exception):
    pass


def parse_target(target: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(target)
    return parts.path or "/", dict(parse_qsl(parts.query, keep_blank_values=True, max_num_fields=20))


class HttpServer:
    def __init__(self, host: str, port: int, handler: Handler, *, max_head_bytes: int = MAX_HEAD_BYTES,
                 idle_timeout: float = IDLE_TIMEOUT_SECONDS) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.handler = handler
        self.max_head_bytes, self.idle_timeout = max_head_bytes, idle_timeout
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> tuple[str, int] | None:
        if self._server is None or not self._server.sockets:
            return None
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # long polls end now rather than at their timeout
                writer.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_host = str(peer[0]) if isinstance(peer, tuple) else "unix"
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_bytes)
        try:
            if len(self._writers) > MAX_CONNECTIONS:
                await self._send(conn, writer, Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections"))
                return
            while True:
                try:
                    request = await self._receive(conn, reader, peer_host)
                except h11.RemoteProtocolError as exc:
                    if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        status = exc.error_status_hint or HTTPStatus.BAD_REQUEST
                        await self._send(conn, writer, Response.text(status, "bad request"))
                    return
                except _TooLarge:
                    await self._send(conn, writer, Response.text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large"))
                    return
                if request is None:
                    return
                await self._send(conn, writer, await self._answer(request), head_only=request.method == "HEAD")
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (TimeoutError, ConnectionError, h11.LocalProtocolError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _receive(self, conn: h11.Connection, reader: asyncio.StreamReader, peer: str) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
                    raise _TooLarge
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise _TooLarge
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                path, query = parse_target(head.target.decode("ascii", "replace"))
                headers = {k.decode("ascii", "replace").lower(): v.decode("latin-1") for k, v in head.headers}
                target = head.target.decode("ascii", "replace")
                return Request(head.method.decode("ascii", "replace").upper(), path, query, headers, bytes(body), peer,
                               target)  # fmt: skip
            else:  # ConnectionClosed, or PAUSED after the peer closed
                return None

    async def _answer(self, request: Request) -> Response:
        try:
            return await self.handler(request)
        except Exception:
            log.exception("the status page failed on %s %s", request.method, request.path)
            return Response.text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error: see the agent's log")

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response,
                    head_only: bool = False) -> None:  # fmt: skip
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
                   *SECURITY_HEADERS, *response.headers]  # fmt: skip
        writer.write(conn.send(h11.Response(status_code=int(response.status), headers=headers)) or b"")
        if not head_only:  # a HEAD answer has the GET's Content-Length but no body
            writer.write(conn.send(h11.Data(data=response.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
