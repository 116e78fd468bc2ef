"""The ECR protocol over WebSocket, for web POS pages: wsproto on an asyncio stream, around the same
`Session` and `EcrServer` as the NDJSON transport (one JSON object per text message instead of per line).

Only this shell is new: the handshake's checks (`agent.ecr.handshake`), pairing and origin tokens
(`agent.ecr.origins`, kept by `agent.ecr.origin_store`), and the WebSocket's own limits: a message over
64 KiB closes with 1009, a binary frame with 1003, no hello in time, a refused token, a revoked origin
or a reader that stopped reading with 1008, the agent stopping with 1001. The agent pings every 20 s;
no pong 20 s later closes the connection (1008). Listens on loopback only (127.0.0.1 and ::1).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from agent.guard import client_key
from agent.throttled_log import ThrottledLog

from .framing import MAX_LINE_BYTES
from .handshake import Reject, decide
from .messages import ErrorCode, error_response, ok_response
from .origin_store import OriginStore, OriginStoreError
from .origins import OriginBook, Paired, RandomBytes, digest
from .server import MAX_IN_FLIGHT_PER_CONNECTION, READ_CHUNK, Connection, EcrServer, is_loopback
from .session import Pair, Session

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = MAX_LINE_BYTES
MAX_HANDSHAKE_BYTES = 16 * 1024
PING_INTERVAL_SECONDS = 20.0
PONG_TIMEOUT_SECONDS = 20.0
WATCH_SECONDS = 1.0  # how often the origin book is checked for revocations made by the CLI
LOOPBACK = ("127.0.0.1", "::1")

NORMAL, GOING_AWAY, UNSUPPORTED_DATA, POLICY, TOO_BIG, INTERNAL = 1000, 1001, 1003, 1008, 1009, 1011


class WebSocketListener:
    def __init__(self, server: EcrServer, store: OriginStore, port: int, *, hosts: tuple[str, ...] = LOOPBACK,
                 ping_interval: float = PING_INTERVAL_SECONDS, pong_timeout: float = PONG_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.time, random_bytes: RandomBytes = os.urandom) -> None:
        self.server = server
        self.store = store
        self.port = port
        self.hosts = hosts
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.clock = clock
        self.random_bytes = random_bytes
        self._token_hashes: dict[Connection, str] = {}  # authenticated connections -> the token they used
        self._handshaking: set[asyncio.StreamWriter] = set()  # not yet connections of the server's
        # Any page the cashier opens can make us refuse it, as often as it likes: the journal must not flood.
        self._refusals = ThrottledLog(log, time.monotonic, "WebSocket refusals")
        server.on_stop.append(self._stop_handshakes)

    async def start(self) -> None:
        for host in self.hosts:
            try:
                listener = await asyncio.start_server(self._serve, host, self.port)
            except OSError as exc:
                if host == "::1" and self.hosts[0] != "::1":  # a PC without IPv6: 127.0.0.1 is enough
                    log.info("WebSocket listener: no [::1]:%d (%s); 127.0.0.1 only", self.port, exc.strerror)
                    continue
                raise
            self.server.adopt(listener)
            if self.port == 0:
                self.port = int(listener.sockets[0].getsockname()[1])
        self.server.spawn(self._watch_revocations())

    def _stop_handshakes(self) -> None:
        for writer in list(self._handshaking):
            writer.transport.abort()  # the handshake's read ends at once; nothing was promised to it

    def book(self) -> OriginBook:
        try:
            return self.store.current()
        except OriginStoreError as exc:
            log.error("WebSocket: %s", exc)
            return OriginBook()  # nothing paired: every page is refused until the file is fixed

    # --- revocation: the CLI changed the book

    async def _watch_revocations(self) -> None:
        checked: tuple[int, int, int] | None = None
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                stamp = self.store.stamp()
            except OriginStoreError:
                continue
            if stamp != checked:
                checked = stamp
                self.close_revoked(self.book())

    def close_revoked(self, book: OriginBook) -> None:
        """Close each live connection whose origin's token is no longer the one it authenticated with."""
        for connection, token_hash in list(self._token_hashes.items()):
            paired = book.paired.get(connection.origin)
            if paired is None or paired.token_hash != token_hash:
                log.info("WebSocket %s: origin %s revoked; closing", connection.peer, connection.origin)
                self._token_hashes.pop(connection, None)
                end(connection, POLICY, "origin revoked")

    # --- one connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not is_loopback(peer):
            writer.close()
            return
        opened_at = time.monotonic()
        ws = WSConnection(ConnectionType.SERVER)
        connection = Connection(peer=f"ws {peer[0]}:{peer[1]}", key=client_key(str(peer[0])),
                                abort=writer.transport.abort)  # fmt: skip
        # The slot is taken at accept, as on TCP: a flood of handshakes that never finish cannot keep
        # the web POS (or the till) out; the hello deadline counts from here.
        if not self.server.admit(connection):
            writer.close()
            return
        self._handshaking.add(writer)
        try:
            request = await asyncio.wait_for(_handshake(ws, reader, writer), self.server.hello_deadline)
        except (TimeoutError, ConnectionError):
            request = None
        finally:
            self._handshaking.discard(writer)
        if request is None or connection.closed:
            self.server.release_slot(connection)
            writer.close()
            return
        origin = next((value.decode("latin-1") for name, value in request.extra_headers if name == b"origin"), None)
        decision = decide(target=request.target, host=request.host, origin=origin, port=self.port,
                          book=self.book(), now=self.clock())  # fmt: skip
        if isinstance(decision, Reject):
            self.server.release_slot(connection)
            self._refusals.warning("WebSocket handshake from %s refused: %d %s", connection.peer, decision.status,
                                   decision.text)  # fmt: skip
            _reject(ws, writer, decision)
            return
        connection.origin = decision.origin
        connection.abort = lambda: _abort(connection, ws, writer)
        writer.write(ws.send(AcceptConnection()))
        try:
            await self.server.run_connection(connection, self._read(connection, ws, reader, writer, opened_at),
                                             _write(connection, ws, writer), writer)  # fmt: skip
        finally:
            self._token_hashes.pop(connection, None)

    async def _read(self, connection: Connection, ws: WSConnection, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, opened_at: float) -> None:  # fmt: skip
        with contextlib.suppress(ConnectionError):
            code, reason = await self._read_messages(connection, ws, reader, writer, opened_at)
            if not connection.close_reason:  # nobody else (revocation, shutdown) said why first
                connection.close_code, connection.close_reason = code, reason

    async def _read_messages(self, connection: Connection, ws: WSConnection, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter, opened_at: float) -> tuple[int, str]:  # fmt: skip
        """Until the connection must end: then the close code and reason."""
        session = Session(self.server.token, opened_at, hello_deadline=self.server.hello_deadline,
                          check_token=lambda token: self._check_token(connection, token), pairing=True)  # fmt: skip
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT_PER_CONNECTION)
        parts: list[str] = []
        size = 0
        next_ping = time.monotonic() + self.ping_interval
        pong_due: float | None = None
        while True:
            for event in ws.events():
                if isinstance(event, TextMessage):
                    size += len(event.data.encode("utf-8"))
                    if size > MAX_MESSAGE_BYTES:
                        return TOO_BIG, f"message over {MAX_MESSAGE_BYTES // 1024} KiB"
                    parts.append(event.data)
                    if not event.message_finished:
                        continue
                    data, parts, size = "".join(parts).encode("utf-8"), [], 0
                    ended = await self.server.perform(connection, session.message(data), in_flight, self._pair)
                    if ended is not None:
                        return POLICY, ended
                elif isinstance(event, BytesMessage):
                    return UNSUPPORTED_DATA, "binary frames are not ECR messages: send text"
                elif isinstance(event, Ping):
                    writer.write(ws.send(event.response()))
                elif isinstance(event, Pong):
                    pong_due = None
                elif isinstance(event, CloseConnection):
                    return event.code, event.reason or ""
            now = time.monotonic()
            if pong_due is not None and now >= pong_due:
                return POLICY, "no pong: keep-alive timed out"
            if now >= next_ping and ws.state is ConnectionState.OPEN:
                writer.write(ws.send(Ping(b"posagent")))
                next_ping, pong_due = now + self.ping_interval, pong_due or now + self.pong_timeout
            wake = min(next_ping, pong_due or next_ping)
            if not connection.authenticated:
                wake = min(wake, session.deadline)
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), max(0.0, wake - time.monotonic()))
            except TimeoutError:
                ended = await self.server.perform(connection, session.tick(time.monotonic()), in_flight)
                if ended is not None:
                    return POLICY, ended
                continue
            if not data:
                return NORMAL, ""
            ws.receive_data(data)

    def _check_token(self, connection: Connection, token: str) -> str | None:
        """Origin tokens only, and only from their own origin; the till's shared token never."""
        pair_hint = f"pair this origin: posagent ecr pair --origin {connection.origin}"
        if hmac.compare_digest(token.encode("utf-8"), self.server.token.encode("utf-8")):
            return f"the till's shared ECR token is not accepted from web pages; {pair_hint}"
        if self.book().token_origin(token) != connection.origin:
            return f"wrong or revoked token for this origin; {pair_hint}"
        self._token_hashes[connection] = digest(token)
        with contextlib.suppress(OriginStoreError):
            self.store.update(lambda book: book.used(connection.origin, self.clock()))
        return None

    async def _pair(self, connection: Connection, action: Pair) -> None:
        origin, request = connection.origin, action.request
        try:
            result = self.store.update(lambda book: book.pair(origin, action.code, self.clock(), self.random_bytes))
        except OriginStoreError as exc:
            log.error("WebSocket pairing of %s: %s", origin, exc)
            message = "the agent cannot write its origin book (see its log)"
            await connection.reply(error_response(request.id, ErrorCode.INTERNAL, message))
            return
        if isinstance(result, Paired):
            log.info("web POS origin %s paired", origin)
            await connection.reply(ok_response(request.id, {"origin": result.origin, "token": result.token}))
        else:
            self._refusals.warning("WebSocket %s (%s): pairing refused: %s", connection.peer, origin, result.message)
            await connection.reply(error_response(request.id, ErrorCode.UNAUTHORIZED, result.message))


def end(connection: Connection, code: int, reason: str) -> None:
    """Close a connection from outside its tasks: its queued answers go first, then the close frame."""
    connection.authenticated = False
    connection.close_code, connection.close_reason = code, reason
    try:
        connection.outgoing.put_nowait(None)
    except asyncio.QueueFull:
        connection.abort()


async def _handshake(ws: WSConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    received = 0
    while received <= MAX_HANDSHAKE_BYTES:
        data = await reader.read(READ_CHUNK)
        if not data:
            return None
        received += len(data)
        try:
            ws.receive_data(data)
        except RemoteProtocolError as exc:  # not a WebSocket upgrade (a plain GET, a missing header)
            hint: Any = exc.event_hint
            _reject(ws, writer, Reject(hint.status_code if isinstance(hint, RejectConnection) else 400,
                                       f"a WebSocket upgrade is expected here ({exc})"))  # fmt: skip
            return None
        for event in ws.events():
            if isinstance(event, Request):
                return event
    _reject(ws, writer, Reject(431, "request headers too large"))
    return None


def _reject(ws: WSConnection, writer: asyncio.StreamWriter, reject: Reject) -> None:
    body = (reject.text + "\n").encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    try:
        data = ws.send(RejectConnection(status_code=reject.status, headers=headers, has_body=True))
        data += ws.send(RejectData(data=body, body_finished=True))
    except Exception:  # the handshake never got far enough for wsproto to answer: hang up
        data = b""
    with contextlib.suppress(Exception):
        writer.write(data)
    writer.close()


async def _write(connection: Connection, ws: WSConnection, writer: asyncio.StreamWriter) -> None:
    while True:
        batch = [await connection.outgoing.get()]
        while not connection.outgoing.empty() and batch[-1] is not None:
            batch.append(connection.outgoing.get_nowait())
        out = bytearray()
        for item in batch:
            if item is not None and ws.state is ConnectionState.OPEN:
                out += ws.send(Message(data=item.rstrip(b"\n").decode("utf-8")))
            elif item is None:
                out += _close_frame(connection, ws)
        writer.write(bytes(out))
        try:
            await writer.drain()
        except ConnectionError:
            return
        if batch[-1] is None:
            return


def _close_frame(connection: Connection, ws: WSConnection) -> bytes:
    if ws.state not in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
        return b""
    code = connection.close_code if connection.close_code >= 1000 else NORMAL
    return ws.send(CloseConnection(code=code, reason=connection.close_reason[:120] or None))


def _abort(connection: Connection, ws: WSConnection, writer: asyncio.StreamWriter) -> None:
    """Close now (a reader that stopped reading, room needed): the close frame if it can still get
    through, and the socket is cut shortly whatever the peer does."""
    if connection.close_code == NORMAL:
        connection.close_code, connection.close_reason = POLICY, "closed by the agent: stopped reading"
    with contextlib.suppress(Exception):
        writer.transport.write(_close_frame(connection, ws))
        writer.transport.close()
    asyncio.get_running_loop().call_later(2.0, writer.transport.abort)

