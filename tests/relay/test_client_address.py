"""The customer's address behind the load balancers: only trusted proxies' X-Forwarded-For is read."""

from __future__ import annotations

from relay.client_address import client_address, networks

PROXIES = networks(["10.0.0.0/8", "fd00::/8"])


def test_a_direct_peer_is_the_customer_whatever_it_claims() -> None:
    assert client_address("198.51.100.7", "203.0.113.1", PROXIES) == "198.51.100.7"
    assert client_address("198.51.100.7", None, ()) == "198.51.100.7"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_customer() -> None:
    assert client_address("10.0.0.2", "203.0.113.1", PROXIES) == "203.0.113.1"
    # The customer wrote a fake first hop; the proxies appended the real one.
    assert client_address("10.0.0.2", "1.2.3.4, 203.0.113.1, 10.0.0.9", PROXIES) == "203.0.113.1"
    assert client_address("fd00::2", "[2001:db8::1]:4711", PROXIES) == "2001:db8::1"
    assert client_address("::ffff:10.0.0.2", "203.0.113.1:5555", PROXIES) == "203.0.113.1"


def test_without_a_usable_header_the_proxy_itself_is_counted() -> None:
    assert client_address("10.0.0.2", None, PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "garbage, 203.0.113.1", PROXIES) == "203.0.113.1"
    assert client_address("10.0.0.2", "203.0.113.1, garbage", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "10.0.0.3, 10.0.0.4", PROXIES) == "10.0.0.2"
