"""The open-card callback endpoint's HTTP side over real loopback sockets: limits and abuse.
(What it does with the parameters is tested in test_callback.py and tests/agent/members.)"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

import pytest

from agent.daemon.callback import MAX_REQUEST_BYTES, CallbackServer
from agent.members.service import Callback
from agent.web import HttpServer
from tests.agent.web.test_http import RawClient, raw_exchange

PATH = "/alipay/open-card"
GOOD = f"{PATH}?auth_code=abc123&template_id=20170614000000000286130000301234&request_id=42"


class Accepted:
    """A sink that takes every well-formed callback (the member service's checks are tested elsewhere)."""

    def __init__(self) -> None:
        self.calls: list[Callback] = []

    def parse_callback(self, params: Mapping[str, object]) -> Callback:
        return Callback(str(params.get("auth_code")), str(params.get("template_id")), str(params.get("request_id")),
                        None, None)  # fmt: skip

    def check_callback(self, callback: Callback) -> None:
        if callback.request_id == "boom":
            raise RuntimeError("a bug in the check")

    def queue_callback(self, callback: Callback) -> None:
        self.calls.append(callback)


@pytest.fixture
def accepted() -> Accepted:
    return Accepted()


@pytest.fixture
async def callback(accepted: Accepted) -> AsyncIterator[CallbackServer]:
    server = CallbackServer("127.0.0.1", 0, PATH, accepted)
    await server.start()
    yield server
    await server.close()


def shell(server: CallbackServer) -> HttpServer:
    return server._http


def get(target: str, host: str = "127.0.0.1") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


async def test_slow_connections_do_not_lock_customers_out(callback: CallbackServer, accepted: Accepted) -> None:
    http = shell(callback)
    slow = [await RawClient.open(http) for _ in range(http.limits.max_connections + 16)]
    try:
        for client in slow:
            await client.send(f"GET {PATH}?auth_code=".encode())  # never finished

        status, _, body = await raw_exchange(http, get(GOOD))

        assert status == 200 and b"Thank you" in body
        assert len(accepted.calls) == 1
    finally:
        for client in slow:
            client.close()


async def test_a_head_over_8_kib_is_431(callback: CallbackServer, accepted: Accepted) -> None:
    filler = "X-Filler: " + "a" * MAX_REQUEST_BYTES + "\r\n"
    data = f"GET {GOOD} HTTP/1.1\r\nHost: 127.0.0.1\r\n{filler}\r\n".encode()

    status, _, _ = await raw_exchange(shell(callback), data)

    assert status == 431 and accepted.calls == []


async def test_too_many_parameters_are_400_with_a_text(callback: CallbackServer, accepted: Accepted) -> None:
    query = "&".join(f"p{i}=1" for i in range(30))

    status, _, body = await raw_exchange(shell(callback), get(f"{PATH}?{query}"))

    assert status == 400 and b"too many" in body
    assert accepted.calls == []


@pytest.mark.parametrize("host", ["127.0.0.1:7411", "shop.example.com", "callback.merchant.cn:443"])
async def test_any_host_is_served_since_the_endpoint_holds_no_secret(
    callback: CallbackServer, accepted: Accepted, host: str
) -> None:
    """Behind a store's forwarder the Host is the merchant's public name, which the agent does not know."""
    status, _, _ = await raw_exchange(shell(callback), get(GOOD, host))

    assert status == 200 and len(accepted.calls) == 1


async def test_a_failing_check_is_a_try_again_page_with_one_short_log_line(
    callback: CallbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        status, headers, body = await raw_exchange(shell(callback), get(GOOD.replace("=42", "=boom")))

    assert status == 503 and headers["connection"] == "close" and b"a bug" not in body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "abc123" not in errors[0].getMessage()
