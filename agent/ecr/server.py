"""The ECR socket server: the asyncio shell around `Session`, `EventLog` and a `Router`.

Listens on TCP (loopback only: other peers are refused at accept) and/or a Unix socket (mode 0660,
optionally chowned to a group). Each connection has a bounded outgoing queue: an ECR that stops
reading is disconnected rather than allowed to grow the agent's memory.

Until its hello succeeds a connection holds a slot (`agent.guard.SlotTable`): at most
`max_unauthenticated` of them. Every peer is local, so none is refused for being greedy; when full,
the oldest connection still waiting for its hello, of the client (Unix-socket user, or TCP loopback)
holding the most, is closed to make room: silent or slow connections cannot keep the ECR out.
A wrong token's UNAUTHORIZED is held back (`agent.guard.FailureThrottle`) in a pool of its own,
then the connection closes; the right token is never delayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.guard import FailureThrottle, Phase, Slot, SlotTable, client_key

from .events import EventLog
from .messages import ErrorCode, ProtocolError, Request, error_response, ok_response
from .session import Action, Authenticated, Close, Handle, Pair, Refuse, Send, Session, hello_ok

log = logging.getLogger(__name__)

Handler = Callable[[Request, "Connection"], Awaitable[dict[str, Any]]]

READ_CHUNK = 65536
MAX_QUEUED_MESSAGES = 1000
MAX_IN_FLIGHT_PER_CONNECTION = 16
MAX_UNAUTHENTICATED = 64
MAX_HELD = 1024  # wrong-token answers being held back (one open file each)


class Router:
    """op name -> async handler(request, connection) -> response body. Handlers raise ProtocolError."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, op: str, handler: Handler) -> None:
        self._handlers[op] = handler

    @property
    def ops(self) -> list[str]:
        return sorted(self._handlers)

    async def dispatch(self, request: Request, connection: Connection) -> bytes:
        handler = self._handlers.get(request.op)
        if handler is None:
            return error_response(request.id, ErrorCode.UNKNOWN_OP, f"unknown op {request.op!r}")
        try:
            body = await handler(request, connection)
        except ProtocolError as exc:
            return error_response(request.id, exc.code, exc.message)
        except Exception:
            log.exception("op %s failed", request.op)
            return error_response(request.id, ErrorCode.INTERNAL, "internal error (see the agent log)")
        return ok_response(request.id, body)


@dataclass(eq=False)  # identity semantics: connections live in a set
class Connection:
    peer: str
    client: str = ""
    authenticated: bool = False
    closed: bool = False
    abort: Callable[[], None] = lambda: None  # closes the socket at once, unsent data dropped
    outgoing: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED_MESSAGES))
    key: str = ""  # the client, for the limits before hello (see agent.guard.clients)
    slot: Slot[Connection] | None = None  # held until hello succeeds
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # ends a held answer's wait early
    origin: str = ""  # WebSocket only: the page's origin (agent.ecr.websocket)
    close_code: int = 1000  # WebSocket only: the close frame's code and reason when the agent ends it
    close_reason: str = ""

    def shed(self) -> None:
        """Room is needed for a newcomer: close now, without an answer."""
        self.close_code, self.close_reason = 1008, "too many connections waiting for hello"
        self.closed = True
        self.wake.set()
        self.abort()

    def release(self) -> None:
        """A held answer is sent now (the pool of held answers is full)."""
        self.wake.set()

    async def reply(self, data: bytes) -> None:
        """Queue an answer; waits while the queue is full, so a client that pipelines requests
        faster than it reads answers is slowed down (its lines stay unread), never dropped."""
        if not self.closed:
            await self.outgoing.put(data)

    def discard_queue(self) -> None:
        """The connection is gone: unblock every task waiting to queue an answer for it."""
        self.closed = True
        while not self.outgoing.empty():
            self.outgoing.get_nowait()

    def send(self, data: bytes) -> bool:
        """Queue an event; False when the ECR stopped reading (the caller drops the connection)."""
        try:
            self.outgoing.put_nowait(data)
        except asyncio.QueueFull:
            return False
        return True


def is_loopback(peer: Any) -> bool:
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


def unix_peer_key(sock: Any) -> str:
    """A Unix-socket peer's user ("uid:1000"): local users are told apart where TCP cannot."""
    try:
        _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except (AttributeError, OSError, struct.error):
        return "unix"
    return f"uid:{uid}"


class EcrServer:
    def __init__(
        self,
        *,
        token: str,
        router: Router,
        events: EventLog,
        agent_version: str,
        tcp_host: str | None = "127.0.0.1",
        tcp_port: int | None = 0,
        unix_path: Path | None = None,
        unix_group: str | None = None,
        hello_deadline: float = 5.0,
        on_connections: Callable[[int], None] | None = None,
        throttle: FailureThrottle | None = None,
        max_unauthenticated: int = MAX_UNAUTHENTICATED,
        max_held: int = MAX_HELD,
    ) -> None:
        self.token = token
        self.router = router
        self.events = events
        self.agent_version = agent_version
        self.tcp_host = tcp_host
        self.tcp_port = tcp_port
        self.unix_path = unix_path
        self.unix_group = unix_group
        self.hello_deadline = hello_deadline
        self.on_connections = on_connections  # told the count whenever a connection comes or goes
        self.accepted_total = 0
        self.connections: set[Connection] = set()
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()  # request handlers
        self._serving: set[asyncio.Task[Any]] = set()  # one per connection
        self.accepting = False
        self.on_stop: list[Callable[[], None]] = []  # other transports' own clean-up (handshakes in progress)
        self.throttle = throttle or FailureThrottle()
        self.unauthenticated: SlotTable[Connection] = SlotTable(
            max_open=max_unauthenticated, max_per_client=max_unauthenticated, max_held=max_held,
            capped=lambda key: False)  # fmt: skip

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        for server in self._servers:
            for sock in server.sockets:
                if sock.family.name.startswith("AF_INET"):
                    name = sock.getsockname()
                    return str(name[0]), int(name[1])
        return None

    async def start(self) -> None:
        if self.tcp_port is not None and self.tcp_host:
            self._servers.append(await asyncio.start_server(self._serve, self.tcp_host, self.tcp_port))
        if self.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.unix_path.unlink()
            self.unix_path.parent.mkdir(parents=True, exist_ok=True)
            self._servers.append(await asyncio.start_unix_server(self._serve, str(self.unix_path)))
            os.chmod(self.unix_path, 0o660)
            if self.unix_group:
                os.chown(self.unix_path, -1, grp.getgrnam(self.unix_group).gr_gid)
        self.accepting = True

    def adopt(self, server: asyncio.Server) -> None:
        """Another transport's listener (the WebSocket one): closed along with ours."""
        self._servers.append(server)

    async def stop_accepting(self) -> None:
        self.accepting = False
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()

    async def close(self) -> None:
        """Stop: flush what each connection has queued (briefly), then close them all."""
        await self.stop_accepting()
        for hook in self.on_stop:
            hook()
        for connection in list(self.connections):
            connection.authenticated = False
            connection.close_code, connection.close_reason = 1001, "agent stopping"
            try:
                connection.outgoing.put_nowait(None)
            except asyncio.QueueFull:
                connection.abort()
        serving = set(self._serving)
        if serving:
            _, stuck = await asyncio.wait(serving, timeout=2.0)
            for connection in list(self.connections):
                connection.abort()
            if stuck:
                await asyncio.wait(stuck, timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.unix_path.unlink()

    def publish(self, event: str, body: dict[str, Any]) -> None:
        """Record an event and send it to every authenticated connection."""
        message = self.events.append(event, body)
        for connection in list(self.connections):
            if connection.authenticated and not connection.send(message):
                log.warning("ECR %s stopped reading events; disconnecting it", connection.peer)
                self._drop(connection)

    def _connections_changed(self) -> None:
        if self.on_connections is not None:
            try:
                self.on_connections(len(self.connections))
            except Exception:  # a listener's bug must not cost the till its connection
                log.exception("connection listener failed")

    def _drop(self, connection: Connection) -> None:
        """An ECR that stopped reading: close it now (its queued data is useless to it anyway)."""
        connection.authenticated = False
        connection.close_code, connection.close_reason = 1008, "stopped reading"
        connection.discard_queue()
        connection.abort()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """A task of the server's: cancelled when it closes."""
        return self._spawn(coro)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_info = writer.get_extra_info("peername")
        sock = writer.get_extra_info("socket")
        is_unix = sock.family.name == "AF_UNIX"
        if not is_unix and not is_loopback(peer_info):
            log.warning("refused ECR connection from non-loopback peer %s", peer_info)
            writer.close()
            return
        connection = Connection(peer="unix" if is_unix else f"{peer_info[0]}:{peer_info[1]}",
                                abort=writer.transport.abort,
                                key=unix_peer_key(sock) if is_unix else client_key(str(peer_info[0])))  # fmt: skip
        if not self.admit(connection):
            with contextlib.suppress(Exception):
                writer.write(error_response(None, ErrorCode.BUSY, "too many connections waiting for hello: "
                                                                  "try again shortly"))  # fmt: skip
                writer.close()
            return
        await self.run_connection(connection, self._read(connection, reader), self._write(connection, writer), writer)

    def admit(self, connection: Connection) -> bool:
        """Take an unauthenticated slot (shedding older waiters as needed); False when none is left."""
        admission = self.unauthenticated.admit(connection.key, connection, time.monotonic())
        for victim in admission.shed:
            victim.owner.shed()
        connection.slot = admission.slot
        return admission.slot is not None

    async def run_connection(self, connection: Connection, read: Awaitable[None], write: Awaitable[None],
                             writer: asyncio.StreamWriter) -> None:
        """Serve an admitted connection until either side ends: shared by every transport."""
        self.connections.add(connection)
        self.accepted_total += 1
        self._connections_changed()
        current = asyncio.current_task()
        if current is not None:
            self._serving.add(current)
        reading = asyncio.ensure_future(read)
        writing = asyncio.ensure_future(write)
        try:
            # Whichever side ends first (peer closed, protocol close, peer stopped reading and went
            # away) ends the connection: a reader must never wait forever on a dead writer.
            await asyncio.wait({reading, writing}, return_when=asyncio.FIRST_COMPLETED)
            if reading.done() and not writing.done():
                with contextlib.suppress(asyncio.QueueFull):
                    connection.outgoing.put_nowait(None)  # flush what is queued, then close
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(writing), timeout=1.0)
        finally:
            self._unslot(connection)
            self.connections.discard(connection)
            self._connections_changed()
            connection.authenticated = False
            connection.discard_queue()
            for task in (reading, writing):
                task.cancel()
            await asyncio.gather(reading, writing, return_exceptions=True)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if current is not None:
                self._serving.discard(current)

    async def _read(self, connection: Connection, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self._read_lines(connection, reader)

    async def _read_lines(self, connection: Connection, reader: asyncio.StreamReader) -> None:
        session = Session(self.token, time.monotonic(), hello_deadline=self.hello_deadline)
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT_PER_CONNECTION)
        while True:
            timeout = None
            if not connection.authenticated:
                timeout = max(0.0, session.deadline - time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), timeout)
            except TimeoutError:
                data = None
            actions = session.tick(time.monotonic()) if data is None else session.receive(data)
            if data == b"":
                return
            if await self.perform(connection, actions, in_flight) is not None:
                return

    async def perform(self, connection: Connection, actions: list[Action], in_flight: asyncio.Semaphore,
                      pair: Callable[[Connection, Pair], Awaitable[None]] | None = None) -> str | None:
        """Carry out a session's actions; the reason when the connection must end now, else None."""
        for action in actions:
            if isinstance(action, Send):
                await connection.reply(action.data)
            elif isinstance(action, Close):
                log.info("closing ECR connection %s: %s", connection.peer, action.reason)
                return action.reason
            elif isinstance(action, Refuse):
                await self._refuse(connection, action)
                return action.reason
            elif isinstance(action, Authenticated):
                self._unslot(connection)
                await self._authenticate(connection, action)
            elif isinstance(action, Handle):
                await in_flight.acquire()
                self._spawn(self._handle(connection, action.request, in_flight))
            elif isinstance(action, Pair) and pair is not None:
                await pair(connection, action)
        return None

    def release_slot(self, connection: Connection) -> None:
        """A connection refused before it was served (a WebSocket handshake): its slot is free again."""
        self._unslot(connection)

    def _unslot(self, connection: Connection) -> None:
        if connection.slot is not None:
            self.unauthenticated.release(connection.slot)
            connection.slot = None

    async def _refuse(self, connection: Connection, action: Refuse) -> None:
        """A wrong token: hold the answer back (in the held pool, taking nobody's room), send it, close."""
        failure = self.throttle.failed(connection.key, time.monotonic())
        if failure.worth_logging:
            log.warning("ECR connection %s: wrong token (%d from %s in the last minutes; answers now held %.0f s)",
                        connection.peer, failure.count, connection.key, failure.delay)  # fmt: skip
        slot = connection.slot
        if failure.delay > 0 and slot is not None:
            for released in self.unauthenticated.enter(slot, Phase.HELD, time.monotonic()):
                released.owner.release()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.wake.wait(), failure.delay)
        if not connection.closed:
            await connection.reply(action.data)

    async def _authenticate(self, connection: Connection, action: Authenticated) -> None:
        replay = self.events.replay(action.last_seq, action.epoch)
        connection.client = action.client
        answer = hello_ok(action.request, epoch=self.events.epoch, seq=self.events.seq,
                          agent_version=self.agent_version, replayed=len(replay.messages), gap=replay.gap)
        await connection.reply(answer)
        for message in replay.messages:
            await connection.reply(message)
        connection.authenticated = True

    async def _handle(self, connection: Connection, request: Request, in_flight: asyncio.Semaphore) -> None:
        try:
            await connection.reply(await self.router.dispatch(request, connection))
        finally:
            in_flight.release()

    async def _write(self, connection: Connection, writer: asyncio.StreamWriter) -> None:
        while True:
            batch = [await connection.outgoing.get()]
            while not connection.outgoing.empty() and batch[-1] is not None:
                batch.append(connection.outgoing.get_nowait())  # one write for everything queued
            done = batch[-1] is None
            writer.write(b"".join(m for m in batch if m is not None))
            try:
                await writer.drain()
            except ConnectionError:
                return
            if done:
                return
