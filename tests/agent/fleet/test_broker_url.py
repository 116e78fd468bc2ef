"""The broker's URL, as the agent's [fleet] broker and the relay's [broker] url give it: TLS always, but
for a broker on this machine."""

from __future__ import annotations

import pytest

from agent.fleet.broker_url import BrokerAddress, BrokerUrlError, parse_broker_url


@pytest.mark.parametrize(("url", "address"), [
    ("mqtts://broker.example.com", BrokerAddress("broker.example.com", 8883, "tcp", True)),
    ("mqtts://broker.example.com:9883", BrokerAddress("broker.example.com", 9883, "tcp", True)),
    ("wss://hq.example.com/mqtt", BrokerAddress("hq.example.com", 443, "websockets", True, "/mqtt")),
    ("wss://hq.example.com:8443/ws", BrokerAddress("hq.example.com", 8443, "websockets", True, "/ws")),
    ("mqtt://127.0.0.1:1883", BrokerAddress("127.0.0.1", 1883, "tcp", False)),
    ("ws://[::1]:8080/mqtt", BrokerAddress("::1", 8080, "websockets", False, "/mqtt")),
])  # fmt: skip
def test_good_urls(url: str, address: BrokerAddress) -> None:
    assert parse_broker_url(url) == address
    assert parse_broker_url(str(address)) == address


@pytest.mark.parametrize(("url", "words"), [
    ("mqtt://broker.example.com", "no TLS"),
    ("ws://broker.example.com/mqtt", "no TLS"),
    ("https://broker.example.com", "use mqtts://"),
    ("mqtts://user:pw@broker.example.com", "no user name or password"),
    ("mqtts://broker.example.com/path", "has no path"),
    ("mqtts://", "no host"),
    ("mqtts://broker.example.com:99999", "not a broker URL"),
    ("mqtts://broker.example.com?x=1", "no query"),
])  # fmt: skip
def test_bad_urls_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(BrokerUrlError, match=words):
        parse_broker_url(url)
