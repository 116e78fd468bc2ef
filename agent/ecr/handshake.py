"""Whether to upgrade a WebSocket handshake, sans I/O: path, Host and Origin.

- Path `/ecr` only (404 otherwise).
- `Host` must name this PC's loopback listener with its port (`127.0.0.1:P`, `[::1]:P`,
  `localhost:P`): a DNS-rebinding page reaches us under its own name, which it cannot change, so it is
  refused with 403 before anything else happens.
- `Origin` must be a paired origin, or one with a pairing code waiting (403 otherwise, with the command
  that pairs it). Browsers set Origin themselves and pages cannot forge it, so this stops random
  websites; a non-browser program can send any Origin it likes: the origin token is what stops it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .origins import OriginBook, OriginError, normalise_origin

PATH = "/ecr"
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost")


@dataclass(frozen=True)
class Accept:
    origin: str


@dataclass(frozen=True)
class Reject:
    status: int
    text: str  # a one-line body for the developer looking at the browser's network tab


def host_is_loopback(host: str, port: int) -> bool:
    return host.strip().lower() in {f"{name}:{port}" for name in LOOPBACK_HOSTS}


def decide(*, target: str, host: str, origin: str | None, port: int, book: OriginBook, now: float) -> Accept | Reject:
    if target.split("?", 1)[0] != PATH:
        return Reject(404, f"not found: the ECR WebSocket is at {PATH}")
    if not host_is_loopback(host, port):
        return Reject(403, f"the Host header must name this PC's loopback address: ws://127.0.0.1:{port}{PATH}")
    if origin is None:
        return Reject(403, "no Origin header: only web pages of paired origins may connect")
    try:
        normalised = normalise_origin(origin)
    except OriginError:
        return Reject(403, "the Origin header is not an origin")  # e.g. "null" (a sandboxed iframe, a file:// page)
    if not book.admits(normalised, now):
        return Reject(403, f"origin not paired: run posagent ecr pair --origin {normalised}")
    return Accept(normalised)
