"""The ECR protocol over WebSocket (real loopback sockets, a wsproto client): who may connect, pairing,
origin tokens, the WebSocket limits and close codes; the till's other connections are never affected."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from wsproto.events import Ping, Pong

from agent.ecr.events import EventLog
from agent.ecr.messages import Request
from agent.ecr.origin_store import OriginStore
from agent.ecr.origins import CODE_MAX_TRIES, CODE_VALID_SECONDS, show_code
from agent.ecr.server import Connection, EcrServer, Router
from agent.ecr.websocket import WebSocketListener
from tests.support.waiting import wait_until
from tests.support.ws_client import Refused, WsClient

TOKEN = "shared-till-token"
POS = "https://pos.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def echo(request: Request, connection: Connection) -> dict[str, Any]:
    return {"echo": request.body, "origin": connection.origin}


class Till:
    """An EcrServer with both transports, the origin book in a temporary state dir."""

    def __init__(self, tmp_path: Path, *, ping_interval: float = 20.0, pong_timeout: float = 20.0) -> None:
        router = Router()
        router.add("echo", echo)
        self.clock = Clock()
        self.store = OriginStore(tmp_path / "ecr_origins.json")
        self.server = EcrServer(token=TOKEN, router=router, events=EventLog(epoch="e1"), agent_version="test",
                                tcp_port=0, hello_deadline=0.5)  # fmt: skip
        self.ws = WebSocketListener(self.server, self.store, 0, hosts=("127.0.0.1",), clock=self.clock,
                                    ping_interval=ping_interval, pong_timeout=pong_timeout)  # fmt: skip

    async def start(self) -> None:
        await self.server.start()
        await self.ws.start()

    @property
    def port(self) -> int:
        return self.ws.port

    def new_code(self, origin: str = POS) -> str:
        return show_code(self.store.update(lambda book: book.start_pairing(origin, self.clock(), os.urandom)))

    async def paired_token(self, origin: str = POS) -> str:
        code = self.new_code(origin)
        client = await self.open(origin=origin)
        answer = await client.pair(code)
        await client.close()
        assert answer["ok"], answer
        return str(answer["body"]["token"])

    async def open(self, **kwargs: Any) -> WsClient:
        client = await WsClient.open(self.port, **kwargs)
        assert isinstance(client, WsClient), client
        return client

    async def authenticated(self, token: str, origin: str = POS) -> WsClient:
        client = await self.open(origin=origin)
        answer = await client.hello(token)
        assert answer["ok"], answer
        return client

    async def tcp_till(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A native till on the NDJSON port, authenticated."""
        address = self.server.tcp_address
        assert address is not None
        reader, writer = await asyncio.open_connection(*address)
        writer.write(json.dumps({"v": 1, "type": "req", "id": "h", "op": "hello", "body": {"token": TOKEN}}).encode()
                     + b"\n")  # fmt: skip
        await writer.drain()
        assert json.loads(await asyncio.wait_for(reader.readline(), 5))["ok"]
        return reader, writer


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    till = Till(tmp_path)
    await till.start()
    yield till
    await till.server.close()


async def till_still_served(till: Till, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b'{"v":1,"type":"req","id":"e","op":"echo","body":{"x":1}}\n')
    await writer.drain()
    answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
    assert answer["ok"] and answer["body"]["echo"] == {"x": 1}


# --- who may open the WebSocket


async def test_a_page_of_an_unpaired_origin_is_refused_with_the_command_that_pairs_it(till: Till) -> None:
    refused = await WsClient.open(till.port, origin="https://evil.example")
    assert refused == Refused(403, "origin not paired: run posagent ecr pair --origin https://evil.example\n")


async def test_a_missing_or_null_origin_is_refused(till: Till) -> None:
    await till.paired_token()
    for origin in (None, "null"):
        refused = await WsClient.open(till.port, origin=origin)
        assert isinstance(refused, Refused) and refused.status == 403


async def test_a_dns_rebinding_host_is_refused_even_from_a_paired_origin(till: Till) -> None:
    await till.paired_token()
    refused = await WsClient.open(till.port, host=f"evil.example:{till.port}")
    assert isinstance(refused, Refused) and refused.status == 403 and "Host" in refused.text
    for host in (f"localhost:{till.port}", f"127.0.0.1:{till.port}"):
        assert isinstance(await WsClient.open(till.port, host=host), WsClient)


async def test_another_path_is_404(till: Till) -> None:
    await till.paired_token()
    refused = await WsClient.open(till.port, path="/other")
    assert isinstance(refused, Refused) and refused.status == 404


async def test_the_origin_is_compared_after_normalisation(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token, origin="HTTPS://POS.Example.com:443")
    assert (await client.request("echo", {}))["body"]["origin"] == POS


# --- pairing


async def test_pairing_gives_a_token_that_authenticates_the_origin(till: Till) -> None:
    code = till.new_code()
    client = await till.open()
    answer = await client.pair(code.lower().replace("-", " "))  # typed loosely by a person
    assert answer["ok"] and answer["body"]["origin"] == POS
    token = answer["body"]["token"]
    hello = await client.hello(token)
    assert hello["ok"]
    assert (await client.request("echo", {"a": 1}))["body"] == {"echo": {"a": 1}, "origin": POS}
    stored = till.store.path.read_text()
    assert token not in stored and code.replace("-", "") not in stored  # hashes only
    assert till.store.path.stat().st_mode & 0o777 == 0o600
    assert till.store.current().paired[POS].last_used == till.clock.now


async def test_a_code_is_single_use(till: Till) -> None:
    code = till.new_code()
    client = await till.open()
    assert (await client.pair(code))["ok"]
    again = await client.pair(code)
    assert again["error"]["code"] == "UNAUTHORIZED" and code not in again["error"]["message"]


async def test_an_expired_code_is_refused(till: Till) -> None:
    code = till.new_code()
    client = await till.open()
    till.clock.now += CODE_VALID_SECONDS + 1
    answer = await client.pair(code)
    assert answer["error"]["code"] == "UNAUTHORIZED" and "expired" in answer["error"]["message"]
    refused = await WsClient.open(till.port)  # nothing pending, nothing paired: the origin is shut out again
    assert isinstance(refused, Refused) and refused.status == 403


async def test_guessing_the_code_is_bounded(till: Till) -> None:
    code = till.new_code()
    client = await till.open()
    for attempt in range(CODE_MAX_TRIES):
        answer = await client.pair("AAAA-AAAA" if code != "AAAA-AAAA" else "BBBB-BBBB")
        assert answer["error"]["code"] == "UNAUTHORIZED", attempt
    assert "too many" in answer["error"]["message"]
    answer = await client.pair(code)  # the right code, too late: it is void
    assert answer["error"]["code"] == "UNAUTHORIZED"


async def test_a_code_works_only_from_the_origin_it_was_made_for(till: Till) -> None:
    code = till.new_code(POS)
    till.new_code("https://other.example")
    other = await till.open(origin="https://other.example")
    assert (await other.pair(code))["error"]["code"] == "UNAUTHORIZED"


# --- tokens


async def test_the_shared_till_token_is_refused_over_websocket(till: Till) -> None:
    await till.paired_token()
    client = await till.open()
    answer = await client.hello(TOKEN)
    assert answer["error"]["code"] == "UNAUTHORIZED" and "pair" in answer["error"]["message"]
    assert (await client.closed()).code == 1008


async def test_a_wrong_token_is_refused_and_closed(till: Till) -> None:
    await till.paired_token()
    client = await till.open()
    answer = await client.hello("wpo_" + "0" * 64)
    assert answer["error"]["code"] == "UNAUTHORIZED"
    assert (await client.closed()).code == 1008


async def test_a_token_works_only_from_its_own_origin(till: Till) -> None:
    """A token stolen from the web POS (an XSS) is useless from any other origin."""
    token = await till.paired_token(POS)
    await till.paired_token("https://other.example")
    client = await till.open(origin="https://other.example")
    assert (await client.hello(token))["error"]["code"] == "UNAUTHORIZED"


async def test_a_forged_origin_from_a_program_passes_the_origin_check_but_not_the_token(till: Till) -> None:
    """A non-browser client can claim any Origin: the Origin check only stops browsers; the token stops it."""
    await till.paired_token(POS)
    forger = await till.open(origin=POS)  # not a browser: it just says it is the POS
    answer = await forger.hello("guessed")
    assert answer["error"]["code"] == "UNAUTHORIZED"
    assert (await forger.closed()).code == 1008


async def test_revoking_an_origin_closes_its_live_connections_and_its_token_stops_working(till: Till) -> None:
    token = await till.paired_token()
    live = await till.authenticated(token)
    reader, writer = await till.tcp_till()
    till.store.update(lambda book: book.revoke(POS))
    closed = await live.closed()
    assert (closed.code, closed.reason) == (1008, "origin revoked")
    assert isinstance(await WsClient.open(till.port), Refused)
    await till_still_served(till, reader, writer)


# --- the WebSocket limits


async def test_no_hello_in_time_closes_with_1008(till: Till) -> None:
    await till.paired_token()
    client = await till.open()
    assert (await client.closed()).code == 1008


async def test_a_message_over_64_kib_closes_with_1009(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    reader, writer = await till.tcp_till()
    await client.send(json.dumps({"v": 1, "type": "req", "id": "big", "op": "echo", "body": {"x": "a" * 70000}}))
    assert (await client.closed()).code == 1009
    await till_still_served(till, reader, writer)


async def test_a_binary_frame_closes_with_1003(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    await client.send_bytes(b'{"v":1}')
    assert (await client.closed()).code == 1003


async def test_a_malformed_message_gets_its_error_and_the_connection_stays(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    await client.send("not json")
    answer = await client.recv()
    assert isinstance(answer, dict) and answer["error"]["code"] == "BAD_REQUEST"
    assert (await client.request("echo", {"ok": 1}))["ok"]


async def test_events_reach_websocket_pages_and_replay_by_last_seq(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    till.server.publish("scan", {"code": "123"})
    event = await client.recv()
    assert isinstance(event, dict) and event["event"] == "scan" and event["seq"] == 1
    await client.close()
    till.server.publish("scan", {"code": "456"})
    again = await till.open()
    hello = await again.hello(token, last_seq=1)
    assert hello["body"]["replayed"] == 1
    replayed = await again.recv()
    assert isinstance(replayed, dict) and replayed["seq"] == 2


async def test_a_page_that_stops_reading_is_dropped_and_the_till_is_unaffected(till: Till) -> None:
    token = await till.paired_token()
    stopped = await till.authenticated(token)  # authenticated, then never reads again
    reader, writer = await till.tcp_till()
    page = next(c for c in till.server.connections if c.origin)
    received: list[int] = []

    async def native_till_reads() -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            message = json.loads(line)
            if message.get("type") == "evt":
                received.append(message["seq"])

    reading = asyncio.create_task(native_till_reads())
    published = 0
    for _ in range(5000):  # bounded: far beyond the queue and the socket buffers
        till.server.publish("scan", {"blob": "x" * 4000})
        published += 1
        await asyncio.sleep(0)
        if page.closed:
            break
    await wait_until(lambda: page not in till.server.connections)  # cut, even though it never reads
    await wait_until(lambda: len(received) == published)
    assert received == list(range(1, published + 1))  # every event, in order, none lost
    reading.cancel()
    await till_still_served(till, reader, writer)
    del stopped


async def test_the_agent_stopping_closes_pages_with_1001(tmp_path: Path) -> None:
    till = Till(tmp_path)
    await till.start()
    token = await till.paired_token()
    client = await till.authenticated(token)
    await till.server.close()
    assert (await client.closed()).code == 1001


async def test_a_page_that_does_not_answer_pings_is_closed(tmp_path: Path) -> None:
    till = Till(tmp_path, ping_interval=0.05, pong_timeout=0.5)
    await till.start()
    try:
        token = await till.paired_token()
        silent = await till.authenticated(token)
        silent.answer_pings = False
        answering = await till.authenticated(token)
        for _ in range(8):  # a page that answers (each read answers the pings before it) stays
            assert (await answering.request("echo", {}))["ok"]
            await asyncio.sleep(0.1)
        assert answering.pings >= 1
        closed = await silent.closed()
        assert closed.code == 1008 and silent.pings >= 1
    finally:
        await till.server.close()


async def test_a_plain_http_request_gets_an_http_error(till: Till) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", till.port)
    writer.write(f"GET /ecr HTTP/1.1\r\nHost: 127.0.0.1:{till.port}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.read(), 5)
    assert head.startswith(b"HTTP/1.1 4")


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client frame built by hand, for bytes a well-behaved library would never send."""
    key = b"\x01\x02\x03\x04"
    header = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    header += bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + length.to_bytes(2, "big")
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def test_invalid_utf8_in_a_text_frame_closes_that_page_only(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    other = await till.authenticated(token)
    client.writer.write(masked_frame(0x1, b'{"v":1,"x":"\xff\xfe"}'))
    await client.writer.drain()
    assert (await client.closed()).code == 1007  # RFC 6455: invalid payload data
    assert (await other.request("echo", {"still": True}))["ok"]


async def test_a_message_over_the_limit_in_fragments_closes_with_1009(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    chunk = b"a" * 30000
    for _ in range(3):  # 90 KB in continuation frames, never finished
        client.writer.write(masked_frame(0x1 if _ == 0 else 0x0, chunk, fin=False))
    await client.writer.drain()
    assert (await client.closed()).code == 1009


async def cut(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


async def test_handshakes_that_never_finish_cannot_keep_the_page_out(tmp_path: Path) -> None:
    """Each handshake holds an unauthenticated slot from accept on (as a TCP connection does): a flood of
    them is bounded, the oldest are shed, and a page still gets in."""
    till = Till(tmp_path)
    till.server.hello_deadline = 60.0  # only shedding, not the deadline, may free the room here
    till.server.unauthenticated.max_open = 4  # type: ignore[misc]
    await till.start()
    try:
        token = await till.paired_token()
        stalled = [await asyncio.open_connection("127.0.0.1", till.port) for _ in range(10)]
        for _, writer in stalled:
            writer.write(b"GET /ecr HTTP/1.1\r\n")  # and nothing more
        page = await till.authenticated(token)  # the oldest waiters were shed to make room
        assert (await page.request("echo", {}))["ok"]
        assert all([await cut(reader) for reader, _ in stalled[:6]])  # the oldest stalled ones gave way
        for _, writer in stalled:
            writer.close()
    finally:
        await till.server.close()


async def test_the_agent_answers_a_pages_ping(till: Till) -> None:
    token = await till.paired_token()
    client = await till.authenticated(token)
    client.writer.write(client.ws.send(Ping(b"are you there")))
    await client.writer.drain()
    data = await asyncio.wait_for(client.reader.read(65536), 5)
    client.ws.receive_data(data)
    assert any(isinstance(e, Pong) and e.payload == b"are you there" for e in client.ws.events())


async def test_a_page_hammering_the_port_does_not_flood_the_log(till: Till, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(40):
        assert isinstance(await WsClient.open(till.port, origin="https://evil.example"), Refused)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refusals) <= 10
