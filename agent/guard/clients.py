"""Who a peer is, for per-client limits.

A remote IPv4 address is one client; a remote IPv6 peer is its /64 (one home or shop network gets
a whole /64, so single addresses would be free for it). Every loopback address is the same client,
`LOOPBACK`: all local processes (the technician's browser, the ECR, a local attacker) share
127.0.0.1, so a per-address cap cannot tell them apart; the servers protect local users by shedding
instead (see `slots`).
"""

from __future__ import annotations

import ipaddress

LOOPBACK = "loopback"


def client_key(peer_host: str) -> str:
    """The client a peer address belongs to; text that is not an address (e.g. "unix") is kept as it is."""
    try:
        address = ipaddress.ip_address(peer_host.split("%", 1)[0])
    except ValueError:
        return peer_host
    mapped = getattr(address, "ipv4_mapped", None)  # a dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1
    address = mapped or address
    if address.is_loopback:
        return LOOPBACK
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
