"""The HTTP shell: what reaches the wire, and transport failures mapped to the error model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agent.alipay import (
    AlipayClient,
    GatewayUnreachableError,
    NoAnswerError,
    ResponseVerificationError,
    RetryableError,
    Timeouts,
    UnknownOutcomeError,
    apis,
)
from agent.alipay.client import MAX_REPLY_BYTES
from agent.alipay.envelope import CHINA_TIME, TIMESTAMP_FORMAT

from .conftest import FakeGateway, KeySet, node_for, signed_body

GATEWAY = "http://127.0.0.1:9/gateway.do"


def ok_query(keys: KeySet) -> FakeGateway:
    name, text = node_for("alipay.trade.query", {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS"})
    return FakeGateway(lambda params: (200, signed_body(name, text, keys.alipay_private)))


async def test_a_call_posts_query_params_and_a_form_body(keys: KeySet) -> None:
    gateway = ok_query(keys)
    async with AlipayClient(keys.credentials, GATEWAY, transport=gateway.transport) as client:
        status = await client.execute(apis.TradeQuery(out_trade_no="A1"))
    assert status.paid
    request = gateway.requests[0]
    assert request.method == "POST"
    # exactly what both official SDKs send, charset included
    assert request.headers["content-type"] == "application/x-www-form-urlencoded;charset=utf-8"
    assert request.url.params["method"] == "alipay.trade.query"
    assert b"biz_content=" in request.content


async def test_image_upload_is_multipart_with_the_file_as_a_part(keys: KeySet) -> None:
    name, text = node_for("alipay.offline.material.image.upload",
                          {"code": "10000", "msg": "Success", "image_id": "1T8Pp00AT7eo9NoAJkMR3AAAACMAAQEC"})  # fmt: skip
    gateway = FakeGateway(lambda params: (200, signed_body(name, text, keys.alipay_private)))
    async with AlipayClient(keys.credentials, GATEWAY, transport=gateway.transport) as client:
        image = await client.execute(apis.ImageUpload("png", "logo", b"\x89PNG\r\n\x1a\nDATA", filename="logo.png"))
    assert image.image_id == "1T8Pp00AT7eo9NoAJkMR3AAAACMAAQEC"
    request = gateway.requests[0]
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="image_content"; filename="logo.png"' in request.content
    assert b"\x89PNG\r\n\x1a\nDATA" in request.content
    # text parts typed like the official SDKs': `Content-Type: text/plain; charset=utf-8`
    assert b'name="image_type"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\npng\r\n' in request.content
    assert b'name="image_name"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nlogo\r\n' in request.content
    assert request.url.params["sign"]


@pytest.fixture
def new_york_clock() -> Iterator[None]:
    """Run with the host in New York time: the timestamp must still be China time."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        yield
    finally:
        mp.undo()
        time.tzset()


async def test_timestamp_is_china_time_when_the_host_is_elsewhere(keys: KeySet, new_york_clock: None) -> None:
    assert time.tzname[0] in ("EST", "EDT")
    gateway = ok_query(keys)
    async with AlipayClient(keys.credentials, GATEWAY, transport=gateway.transport) as client:
        await client.execute(apis.TradeQuery(out_trade_no="A1"))
    sent = datetime.strptime(gateway.params[0]["timestamp"], TIMESTAMP_FORMAT).replace(tzinfo=CHINA_TIME)
    assert abs(sent - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ConnectError("refused"), GatewayUnreachableError),
        (httpx.ConnectTimeout("slow"), GatewayUnreachableError),
        (httpx.ReadTimeout("no answer"), NoAnswerError),
        (httpx.WriteTimeout("stuck"), NoAnswerError),
        (httpx.RemoteProtocolError("peer closed"), NoAnswerError),
        (httpx.ReadError("reset"), NoAnswerError),
        (httpx.WriteError("broken pipe"), NoAnswerError),
        (ConnectionResetError("reset"), NoAnswerError),  # not wrapped by httpx: still no escape
        (RecursionError("deep"), NoAnswerError),
    ],
)
async def test_transport_failures_say_whether_the_request_may_have_landed(
    keys: KeySet, failure: Exception, expected: type[Exception]
) -> None:
    def explode(params: dict[str, str]) -> tuple[int, bytes]:
        raise failure

    gateway = FakeGateway(explode)
    async with AlipayClient(keys.credentials, GATEWAY, transport=gateway.transport) as client:
        with pytest.raises(expected) as info:
            await client.execute(apis.TradeQuery(out_trade_no="A1"))
    assert type(info.value) is expected
    assert info.value.method == "alipay.trade.query"


async def test_read_timeout_is_explicit_and_configurable(keys: KeySet) -> None:
    # A real loopback server that accepts and never answers.
    import asyncio

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        timeouts = Timeouts(connect=1, read=0.3, write=1, pool=1)
        async with AlipayClient(keys.credentials, f"http://127.0.0.1:{port}/gateway.do", timeouts=timeouts) as c:
            with pytest.raises(UnknownOutcomeError, match="no answer in time"):
                await c.execute(apis.TradeQuery(out_trade_no="A1"))
    finally:
        server.close()
        await server.wait_closed()


async def test_refused_connection_is_retryable(keys: KeySet) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        async with AlipayClient(keys.credentials, f"http://127.0.0.1:{port}/gateway.do") as client:
            with pytest.raises(RetryableError, match="unreachable"):
                await client.execute(apis.TradeQuery(out_trade_no="A1"))


async def serve_once(answer: bytes) -> tuple[asyncio.base_events.Server, str]:
    """A loopback server that reads the request and answers `answer` raw (then closes)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
        await reader.readexactly(length)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/gateway.do"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 46\r\n\r\n"
        b"<html><h1>503 Service Unavailable</h1></html>\n",
        b"HTTP/1.1 504 Gateway Time-out\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 502 Bad Gateway\r\n\r\n",  # no length: the body ends with the connection
        b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"alipay_trade_pay_response\":{",  # truncated
        b"HTTP/1.1 200 OK\r\nContent-Le",  # cut in the head
    ],
)
async def test_a_proxy_error_or_a_cut_reply_to_trade_pay_is_no_answer_never_not_sent(
    keys: KeySet, answer: bytes
) -> None:
    server, url = await serve_once(answer)
    pay = apis.TradePay(out_trade_no="S1_T1_9", auth_code="287654321098765432", subject="Till", total_amount="1")
    try:
        async with AlipayClient(keys.credentials, url) as client:
            with pytest.raises(UnknownOutcomeError) as info:
                await client.execute(pay)
    finally:
        server.close()
        await server.wait_closed()
    assert not isinstance(info.value, RetryableError)
    assert "may have been processed" in info.value.message or isinstance(info.value, ResponseVerificationError)


async def test_a_reply_larger_than_any_alipay_reply_is_not_read_into_memory(keys: KeySet) -> None:
    body = b"{" + b" " * (MAX_REPLY_BYTES + 10) + b"}"
    server, url = await serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    try:
        async with AlipayClient(keys.credentials, url) as client:
            with pytest.raises(ResponseVerificationError, match="larger than"):
                await client.execute(apis.TradeQuery(out_trade_no="A1"))
    finally:
        server.close()
        await server.wait_closed()


async def test_every_outcome_is_told_to_the_observer_with_its_kind(keys: KeySet) -> None:
    seen: list[tuple[str, str]] = []
    server, url = await serve_once(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    try:
        async with AlipayClient(keys.credentials, url, observer=lambda m, o, s: seen.append((m, o))) as client:
            with pytest.raises(NoAnswerError):
                await client.execute(apis.TradeQuery(out_trade_no="A1"))
    finally:
        server.close()
        await server.wait_closed()
    assert seen == [("alipay.trade.query", "no_answer")]
