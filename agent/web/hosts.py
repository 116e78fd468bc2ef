"""Which Host names the status page answers to (pure): the defence against DNS rebinding.

A web page on evil.example can make its name resolve to 127.0.0.1 and then read whatever a local
server answers to "Host: evil.example" (/metrics needs no token from loopback) or post its forms
as "the same origin". So every request must name this PC in a way no other site can: a loopback
address (127.0.0.0/8, [::1]), `localhost`, or a name the technician configured. The port does not
matter. IP literals cannot be rebound (a page's origin is then that very address), so when the page
listens on every address (allow_remote with host 0.0.0.0 or ::) any address is accepted; names
always have to be configured.

A request without Host (HTTP/1.0) names nothing that could have been rebound and is accepted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def split_host(value: str) -> tuple[str, str] | None:
    """`host[:port]` as in a Host header -> (lower-case host without brackets, port); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1 :]
        if end < 0 or not _is_ip(host, version=6):
            return None
    else:
        host, colon, port = value.partition(":")
        rest = colon + port
    if not host or (rest and not (rest[0] == ":" and rest[1:].isascii() and rest[1:].isdigit() and len(rest) <= 6)):
        return None
    return host, rest[1:]


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class AllowedHosts:
    def __init__(self, names: Iterable[str] = (), *, any_address: bool = False) -> None:
        self.names = frozenset(name.strip().lower().strip("[]") for name in names if name.strip())
        self.any_address = any_address

    @classmethod
    def for_listener(cls, bind_host: str, *, allow_remote: bool, names: Iterable[str] = ()) -> AllowedHosts:
        """Loopback and `names`; with allow_remote also the address listened on (every address for 0.0.0.0/::)."""
        extra = set(names)
        if allow_remote and bind_host not in WILDCARDS:
            extra.add(bind_host)
        return cls(extra, any_address=allow_remote and bind_host in WILDCARDS)

    def accepts(self, host_header: str | None) -> bool:
        if host_header is None:
            return True
        parsed = split_host(host_header)
        if parsed is None:
            return False
        host = parsed[0]
        if host in LOOPBACK_NAMES or host in self.names or _is_loopback(host):
            return True
        return self.any_address and _is_ip(host)

    def same_origin(self, origin: str | None, host_header: str | None) -> bool:
        """A form post's Origin (when the browser sends one) must be this site, under an accepted name."""
        if origin is None:
            return True
        parts = urlsplit(origin)
        netloc = parts.netloc.lower()
        return (parts.scheme in ("http", "https") and bool(netloc) and netloc == (host_header or "").strip().lower()
                and self.accepts(netloc))  # fmt: skip

    def describe(self) -> str:
        """For error texts: what the page answers to."""
        names = ", ".join(sorted(self.names))
        return "localhost, 127.0.0.1, [::1]" + (f", {names}" if names else "") + (
            " or any IP address of this PC" if self.any_address else "")  # fmt: skip
