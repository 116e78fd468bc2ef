"""The customer's address behind the relay's load balancers, for the per-source rate limit. Pure.

A peer that is not a trusted proxy is the customer. From a trusted proxy, X-Forwarded-For is read from the
right: each proxy appends the address it saw, so the right-most address that is not a trusted proxy is
the customer as the first trusted proxy saw it. Whatever the customer wrote at the left is never
believed (anyone can send an X-Forwarded-For header).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address the rate limit counts: the peer itself unless it is a trusted proxy."""
    peer_address = _address(peer)
    if not trusted or peer_address is None or not _trusted(peer_address, trusted) or not forwarded_for:
        return peer
    hops = forwarded_for.split(",")[-32:]  # a proxy chain is short; a long header is someone's noise
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a hop our proxies did not write: count the request against the proxy
        if not _trusted(address, trusted):
            return str(address)
    return peer
