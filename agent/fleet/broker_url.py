"""The broker's address, as the agent's `[fleet] broker` (and the relay's `[broker] url`) give it.

    mqtts://broker.example.com:8883      MQTT over TLS (port 8883 when omitted)
    wss://broker.example.com:443/mqtt    MQTT over WebSockets over TLS, for stores whose firewall lets
                                         only HTTPS out (port 443 and path /mqtt when omitted)
    mqtt://127.0.0.1:1883, ws://...      plain, refused unless the host is this PC (a broker on loopback)

TLS always, because the link carries customers' authorisations and the till's password. No user or
password in the URL: they live in files (mode 0600). Pure: parsing only, no name resolution.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

SCHEMES = {"mqtts": (8883, True, False), "wss": (443, True, True), "mqtt": (1883, False, False),
           "ws": (80, False, True)}  # fmt: skip  # scheme -> (default port, TLS, WebSockets)
LOOPBACK_NAMES = frozenset({"localhost"})
DEFAULT_WS_PATH = "/mqtt"
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*", re.ASCII)
_PATH = re.compile(r"/[A-Za-z0-9._~/-]{0,200}", re.ASCII)


class BrokerUrlError(ValueError):
    """The text is not a broker address this link accepts; the message says what is."""


@dataclass(frozen=True)
class BrokerUrl:
    scheme: str
    host: str
    port: int
    path: str | None  # WebSockets only

    @property
    def tls(self) -> bool:
        return SCHEMES[self.scheme][1]

    @property
    def websockets(self) -> bool:
        return SCHEMES[self.scheme][2]

    @property
    def transport(self) -> Literal["tcp", "websockets"]:
        """paho's transport name."""
        return "websockets" if self.websockets else "tcp"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path or ''}"


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return len(host) <= 253 and _HOST_NAME.fullmatch(host) is not None


def parse_broker_url(text: str) -> BrokerUrl:
    """The broker address in `text`; BrokerUrlError saying what is wrong (never quoting a password)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise BrokerUrlError("not a URL with a valid port (e.g. mqtts://broker.example.com:8883)") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BrokerUrlError("use mqtts://HOST:8883, or wss://HOST:443/mqtt where only HTTPS gets out")
    if parts.username is not None or parts.password is not None:
        raise BrokerUrlError("no user or password in the URL: give username and password_file")
    if parts.query or parts.fragment:
        raise BrokerUrlError("no query or fragment in the broker URL")
    host = parts.hostname or ""
    if not host or not _valid_host(host):
        raise BrokerUrlError("the URL needs a host name or address")
    default_port, tls, websockets = SCHEMES[scheme]
    if not tls and not is_loopback(host):
        raise BrokerUrlError(f"{scheme}:// is not encrypted: use {scheme}s:// (TLS) for a broker beyond this PC")
    if port == 0:
        raise BrokerUrlError("port 0 is not a broker's port")
    path: str | None = None
    if websockets:
        path = parts.path or DEFAULT_WS_PATH
        if not _PATH.fullmatch(path):
            raise BrokerUrlError("the WebSocket path: / then letters, digits and . _ ~ / -")
    elif parts.path not in ("", "/"):
        raise BrokerUrlError(f"{scheme}:// takes no path (only wss:// and ws:// do)")
    return BrokerUrl(scheme, host, port if port is not None else default_port, path)
