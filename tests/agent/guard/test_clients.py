"""Who a peer is for per-client limits: an address, an IPv6 /64, and all of loopback as one."""

from __future__ import annotations

import pytest

from agent.guard import LOOPBACK, client_key


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_every_loopback_address_is_one_client(peer: str) -> None:
    assert client_key(peer) == LOOPBACK


def test_a_remote_ipv4_address_is_its_own_client() -> None:
    assert client_key("192.168.1.20") == "192.168.1.20"
    assert client_key("::ffff:192.168.1.20") == "192.168.1.20"
    assert client_key("192.168.1.20") != client_key("192.168.1.21")


def test_a_remote_ipv6_peer_is_its_64() -> None:
    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::5") != client_key("2001:db8:1:2::5")


def test_what_is_not_an_address_is_kept() -> None:
    assert client_key("unix") == "unix"
