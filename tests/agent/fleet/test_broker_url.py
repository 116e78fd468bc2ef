"""The broker's address: TLS always (mqtts://, wss://), plain only to a broker on this PC, no password
in the URL, the usual ports and the WebSocket path filled in."""

from __future__ import annotations

import pytest

from agent.fleet.broker_url import BrokerUrl, BrokerUrlError, parse_broker_url


@pytest.mark.parametrize(("text", "expected"), [
    ("mqtts://broker.example.com", BrokerUrl("mqtts", "broker.example.com", 8883, None)),
    ("mqtts://broker.example.com:9883/", BrokerUrl("mqtts", "broker.example.com", 9883, None)),
    ("wss://broker.example.com", BrokerUrl("wss", "broker.example.com", 443, "/mqtt")),
    ("wss://broker.example.com:8443/ws/mqtt", BrokerUrl("wss", "broker.example.com", 8443, "/ws/mqtt")),
    ("MQTTS://10.0.0.5", BrokerUrl("mqtts", "10.0.0.5", 8883, None)),
    ("mqtts://[2001:db8::1]:8883", BrokerUrl("mqtts", "2001:db8::1", 8883, None)),
    ("mqtt://127.0.0.1", BrokerUrl("mqtt", "127.0.0.1", 1883, None)),
    ("mqtt://localhost:1884", BrokerUrl("mqtt", "localhost", 1884, None)),
    ("ws://[::1]/mqtt", BrokerUrl("ws", "::1", 80, "/mqtt")),
])  # fmt: skip
def test_accepted_addresses(text: str, expected: BrokerUrl) -> None:
    url = parse_broker_url(text)
    assert url == expected
    assert url.tls == (url.scheme in ("mqtts", "wss"))
    assert url.transport == ("websockets" if url.path else "tcp")


def test_the_address_reads_back_in_full() -> None:
    assert str(parse_broker_url("wss://hq.example.com")) == "wss://hq.example.com:443/mqtt"
    assert str(parse_broker_url("mqtts://[2001:db8::1]")) == "mqtts://[2001:db8::1]:8883"


@pytest.mark.parametrize(("text", "words"), [
    ("mqtt://broker.example.com", "not encrypted"),
    ("ws://10.0.0.5/mqtt", "not encrypted"),
    ("mqtt://127.0.0.1.example.com", "not encrypted"),  # a name that only starts like loopback
    ("https://broker.example.com", "mqtts://HOST:8883"),
    ("broker.example.com:8883", "mqtts://HOST:8883"),
    ("", "mqtts://HOST:8883"),
    ("mqtts://till:secret@broker.example.com", "no user or password"),
    ("mqtts://broker.example.com/path", "takes no path"),
    ("mqtts://broker.example.com?x=1", "no query"),
    ("mqtts://broker.example.com:99999", "valid port"),
    ("mqtts://broker.example.com:0", "port 0"),
    ("mqtts://", "needs a host"),
    ("mqtts://bad_host!", "needs a host"),
    ("wss://broker.example.com/a b", "WebSocket path"),
    ("mqtts://ｂroker.example.com", "needs a host"),  # full-width letters
])  # fmt: skip
def test_refused_addresses_say_what_is_wanted(text: str, words: str) -> None:
    with pytest.raises(BrokerUrlError) as refused:
        parse_broker_url(text)
    assert words in str(refused.value)
    assert "secret" not in str(refused.value)
