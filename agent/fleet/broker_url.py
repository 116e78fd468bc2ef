"""Where the broker is: `mqtts://host:8883` or `wss://host:443/mqtt` (TLS always; the plain `mqtt://` and
`ws://` only to a loopback host, for tests and a broker on the same machine). Pure: shared by the agent's
`[fleet] broker` and the relay's `[broker] url`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"mqtts": 8883, "wss": 443, "mqtt": 1883, "ws": 80}
_LOOPBACK_NAMES = ("localhost",)


class BrokerUrlError(ValueError):
    pass


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    transport: Literal["tcp", "websockets"]
    tls: bool
    path: str = "/mqtt"  # WebSockets only

    def __str__(self) -> str:
        scheme = {("tcp", True): "mqtts", ("tcp", False): "mqtt", ("websockets", True): "wss",
                  ("websockets", False): "ws"}[(self.transport, self.tls)]  # fmt: skip
        host = f"[{self.host}]" if ":" in self.host else self.host
        tail = self.path if self.transport == "websockets" else ""
        return f"{scheme}://{host}:{self.port}{tail}"


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_broker_url(url: str) -> BrokerAddress:
    """The broker's address; BrokerUrlError says what is wrong (never quotes a password: none belongs here)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BrokerUrlError("not a broker URL (mqtts://HOST:8883 or wss://HOST:443/mqtt)") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BrokerUrlError("use mqtts://HOST:8883 or wss://HOST:443/mqtt")
    if parts.username is not None or parts.password is not None:
        raise BrokerUrlError("no user name or password in the URL (they have their own settings)")
    host = parts.hostname or ""
    if not host:
        raise BrokerUrlError("the URL names no host")
    if parts.query or parts.fragment:
        raise BrokerUrlError("no query or fragment in a broker URL")
    tls = scheme in ("mqtts", "wss")
    if not tls and not is_loopback(host):
        raise BrokerUrlError(f"{scheme}:// has no TLS: only for a broker on this machine (use mqtts:// or wss://)")
    transport: Literal["tcp", "websockets"] = "websockets" if scheme in ("wss", "ws") else "tcp"
    path = parts.path or "/mqtt"
    if transport == "tcp" and parts.path not in ("", "/"):
        raise BrokerUrlError("an mqtts:// URL has no path")
    return BrokerAddress(host, port or _DEFAULT_PORTS[scheme], transport, tls, path)
