"""A small HTTP/1.1 server: h11 does the protocol, this module only moves bytes and keeps the limits.

Enough for the status page, /metrics and the open-card callback on a store PC. Handlers are
`async (Request) -> Response`. What it guarantees (docs/operations.md says it for technicians):

- Time: a request's head (request line and headers) must arrive whole within `head_seconds` of its
  first byte (of the connection's opening, for the first request), its body within `body_seconds`
  after the head: a deadline, not an idle timer, so trickling bytes buys nothing. A keep-alive
  connection may wait `idle_seconds` for its next request.
- Size: the head at most `max_head_bytes` and `max_headers` fields (431), the body at most
  `max_body_bytes` (413), the query and a form at most `max_query_fields` parameters, none repeated (400).
- Connections: `guard.SlotTable` (per-client cap for remote clients; when full, the greediest client's
  idle or unfinished connections are closed to make room; see `agent.guard.slots`).
- Host: when `hosts` is given, a Host header it does not accept is answered 421 before anything else.
- Errors: anything that goes wrong in parsing or in a handler is a short answer (400 or 500) and one
  log line without the request's data; the connection is then closed.
- A handler may ask for its answer to be held back (`Response.hold`, for wrong tokens): the
  connection then waits in its own pool, takes nobody's room, and is closed after the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

from agent.guard import Phase, Slot, SlotTable, client_key

from .hosts import AllowedHosts

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_HEADERS = 64
MAX_QUERY_FIELDS = 20
IDLE_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 64
READ_CHUNK = 16 * 1024

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
class Limits:
    max_head_bytes: int = MAX_HEAD_BYTES
    max_headers: int = MAX_HEADERS
    max_body_bytes: int = MAX_BODY_BYTES
    max_query_fields: int = MAX_QUERY_FIELDS
    head_seconds: float = 10.0
    body_seconds: float = 30.0
    idle_seconds: float = IDLE_TIMEOUT_SECONDS
    send_seconds: float = 30.0
    max_connections: int = MAX_CONNECTIONS
    max_per_client: int = 16  # per remote address (IPv6: per /64); loopback shares max_connections
    max_held: int = 1024  # answers to wrong tokens being held back (one open file each)


class BadRequest(Exception):
    """The request cannot be understood: answered 400 with this message (never with the request's data)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes
    peer: str
    target: str = ""  # as sent: path and query
    max_fields: int = MAX_QUERY_FIELDS

    def form(self) -> dict[str, str]:
        """The url-encoded form; raises BadRequest for too many or repeated fields."""
        if not self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return {}
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {}
        return parse_fields(text, self.max_fields, "form")

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
    hold: float = 0.0  # seconds to hold the answer back (wrong tokens); the connection closes after it

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(HTTPStatus.SEE_OTHER, b"", "text/plain; charset=utf-8", [("Location", location)])


Handler = Callable[[Request], Awaitable[Response]]


def parse_fields(text: str, max_fields: int, what: str = "query") -> dict[str, str]:
    """`a=1&b=2` -> dict; BadRequest for more than `max_fields` fields or a field given twice."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:
        raise BadRequest(f"too many {what} parameters (at most {max_fields})") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise BadRequest(f"a {what} parameter is given twice")
        fields[key] = value
    return fields


def parse_target(target: str, max_fields: int = MAX_QUERY_FIELDS) -> tuple[str, dict[str, str]]:
    parts = urlsplit(target)
    return parts.path or "/", parse_fields(parts.query, max_fields)


class _Answer(Exception):
    """Answer this (an error) and close the connection."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.response = Response.text(status, text + "\n")


class _Connection:
    """One client connection as the slot table sees it: it can be shed (closed) or released (answer now)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.wake = asyncio.Event()  # ends a held answer's wait early
        self.shed_now = False

    def shed(self) -> None:
        self.shed_now = True
        self.wake.set()
        self.writer.transport.abort()

    def release(self) -> None:
        self.wake.set()


class HttpServer:
    def __init__(self, host: str, port: int, handler: Handler, *, limits: Limits | None = None,
                 hosts: AllowedHosts | None = None, name: str = "status page") -> None:  # fmt: skip
        self.host, self.port = host, port
        self.handler = handler
        self.limits = limits or Limits()
        self.hosts = hosts  # None: any Host (the callback endpoint, see docs/operations.md)
        self.name = name
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._serving: set[asyncio.Task[Any]] = set()
        self.slots: SlotTable[_Connection] = SlotTable(
            max_open=self.limits.max_connections, max_per_client=self.limits.max_per_client,
            max_held=self.limits.max_held)  # fmt: skip

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
            for connection in list(self._connections):  # long polls and held answers end now
                connection.shed()
            if self._serving:
                await asyncio.wait(set(self._serving), timeout=2.0)
            for task in list(self._serving):  # a connection that did not end when asked must not hold the stop
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # --- one connection -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        peer = writer.get_extra_info("peername")
        peer_host = str(peer[0]) if isinstance(peer, tuple) else "unix"
        connection = _Connection(writer)
        admission = self.slots.admit(client_key(peer_host), connection, loop.time())
        for victim in admission.shed:
            victim.owner.shed()
        slot = admission.slot
        self._connections.add(connection)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes)
        try:
            if slot is None:
                await self._send(conn, writer, _closing(Response.text(HTTPStatus.SERVICE_UNAVAILABLE,
                                                                      "too many connections: try again\n")))
                return
            await self._requests(conn, reader, writer, slot, peer_host)
        except (TimeoutError, ConnectionError, h11.LocalProtocolError):
            pass  # the client went away or stopped reading: nothing to answer
        except Exception as exc:  # a bug here must cost one connection, never the listener
            log.error("%s: a connection failed (%s)", self.name, type(exc).__name__)
            log.debug("%s: connection failure", self.name, exc_info=True)
            await self._send_error(conn, writer, Response.text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error\n"))
        finally:
            if slot is not None:
                self.slots.release(slot)
            self._connections.discard(connection)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _requests(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        slot: Slot[_Connection], peer: str) -> None:  # fmt: skip
        loop = asyncio.get_running_loop()
        first = True
        while True:
            try:
                request = await self._receive(conn, reader, slot, peer, first)
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint or HTTPStatus.BAD_REQUEST
                text = (f"request head too large (at most {self.limits.max_head_bytes} bytes)\n"
                        if status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE else "bad request\n")  # fmt: skip
                await self._send_error(conn, writer, Response.text(status, text))
                return
            except _Answer as answer:
                await self._send_error(conn, writer, answer.response)
                return
            if request is None or slot.owner.shed_now:
                return
            self.slots.enter(slot, Phase.BUSY, loop.time())
            response = await self._answer(request)
            if response.hold > 0:
                if not await self._hold(slot, response.hold):
                    return  # shed while held: closed without an answer
                response = _closing(response)
            await self._send(conn, writer, response, head_only=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
            self.slots.enter(slot, Phase.IDLE, loop.time())
            first = False

    async def _receive(self, conn: h11.Connection, reader: asyncio.StreamReader, slot: Slot[_Connection], peer: str,
                       first: bool) -> Request | None:  # fmt: skip
        loop = asyncio.get_running_loop()
        limits = self.limits
        buffered = len(conn.trailing_data[0])  # pipelined bytes already received
        started = first or buffered > 0
        if started and not first:
            self.slots.enter(slot, Phase.READING, loop.time())
        deadline = (slot.since + limits.head_seconds) if first else loop.time() + (
            limits.head_seconds if started else limits.idle_seconds)  # fmt: skip
        fed = buffered  # bytes of this request's head given to h11 so far (and maybe more)
        received = buffered > 0
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    if not received:
                        return None  # nothing came (keep-alive, or a browser's preconnect): just close
                    raise _Answer(HTTPStatus.REQUEST_TIMEOUT, "request timeout: the request must arrive whole within "
                                  f"{limits.head_seconds if head is None else limits.body_seconds:g} s") from None
                received = received or bool(data)
                if data and not started:
                    started = True
                    self.slots.enter(slot, Phase.READING, loop.time())
                    deadline = loop.time() + limits.head_seconds
                if head is None:
                    fed += len(data)
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                self._check_head(event, fed - len(conn.trailing_data[0]))
                head = event
                deadline = loop.time() + limits.body_seconds
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > limits.max_body_bytes:
                    raise _Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return self._request(head, bytes(body), peer)
            else:  # ConnectionClosed, or PAUSED after the peer closed
                return None

    def _check_head(self, head: h11.Request, size: int) -> None:
        limits = self.limits
        if size > limits.max_head_bytes:
            raise _Answer(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                          f"request head too large (at most {limits.max_head_bytes} bytes)")  # fmt: skip
        if len(head.headers) > limits.max_headers:
            raise _Answer(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                          f"too many header fields (at most {limits.max_headers})")  # fmt: skip
        hosts = [value for name, value in head.headers if name == b"host"]
        if len(hosts) > 1:
            raise _Answer(HTTPStatus.BAD_REQUEST, "more than one Host header")
        if self.hosts is not None and not self.hosts.accepts(hosts[0].decode("latin-1") if hosts else None):
            raise _Answer(HTTPStatus.MISDIRECTED_REQUEST,
                          f"this agent's {self.name} answers only to {self.hosts.describe()} (see docs/operations.md, "
                          "[status_page] allowed_hosts)")  # fmt: skip
        length = dict(head.headers).get(b"content-length")
        if length is not None and length.isascii() and length.isdigit() and int(length) > limits.max_body_bytes:
            raise _Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")

    def _request(self, head: h11.Request, body: bytes, peer: str) -> Request:
        target = head.target.decode("ascii", "replace")
        try:
            path, query = parse_target(target, self.limits.max_query_fields)
        except BadRequest as exc:
            raise _Answer(HTTPStatus.BAD_REQUEST, str(exc)) from None
        headers = {k.decode("ascii", "replace").lower(): v.decode("latin-1") for k, v in head.headers}
        return Request(head.method.decode("ascii", "replace").upper(), path, query, headers, body, peer, target,
                       self.limits.max_query_fields)  # fmt: skip

    async def _answer(self, request: Request) -> Response:
        try:
            return await self.handler(request)
        except BadRequest as exc:
            return _closing(Response.text(HTTPStatus.BAD_REQUEST, f"{exc}\n"))
        except Exception as exc:
            # One line, without the request's data; the traceback only at debug level.
            log.error("%s: %s %s failed (%s)", self.name, request.method, request.path[:80], type(exc).__name__)
            log.debug("%s: handler failure", self.name, exc_info=True)
            return _closing(Response.text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error: see the agent's log\n"))

    async def _hold(self, slot: Slot[_Connection], seconds: float) -> bool:
        """Wait in the held pool; False when the connection was shed meanwhile."""
        loop = asyncio.get_running_loop()
        for released in self.slots.enter(slot, Phase.HELD, loop.time()):
            released.owner.release()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slot.owner.wake.wait(), seconds)
        self.slots.enter(slot, Phase.BUSY, loop.time())
        return not slot.owner.shed_now

    async def _send_error(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response) -> None:
        """An error answer, when h11 still allows one (nothing sent yet for this request); then close."""
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(TimeoutError, ConnectionError, h11.LocalProtocolError):
                await self._send(conn, writer, _closing(response))

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response,
                    head_only: bool = False) -> None:  # fmt: skip
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
                   *SECURITY_HEADERS, *response.headers]  # fmt: skip
        writer.write(conn.send(h11.Response(status_code=int(response.status), headers=headers)) or b"")
        if not head_only:  # a HEAD answer has the GET's Content-Length but no body
            writer.write(conn.send(h11.Data(data=response.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await asyncio.wait_for(writer.drain(), self.limits.send_seconds)  # a client that does not read


def _closing(response: Response) -> Response:
    if not any(name.lower() == "connection" for name, _ in response.headers):
        response.headers.append(("Connection", "close"))
    return response
