"""Which web pages may drive the till over WebSocket, sans I/O: origins, pairing codes, origin tokens.

A web POS is a page on some origin (`https://pos.example.com`). The technician pairs that origin once
(`posagent ecr pair --origin ...`): a short one-time code is made for it, the page sends the code over
the WebSocket and receives a long-lived token bound to that origin, which it keeps. Only hashes of
codes and tokens are kept, so the book on disk gives nobody a way in.

- A code is 8 characters of an unambiguous alphabet (no 0/O, 1/I/L), shown as XXXX-XXXX, valid
  5 minutes, single use, and dead after 5 wrong tries (32^8 codes, 5 tries: guessing is hopeless).
- A token works only from the origin it was made for: one stolen by an XSS works only from there.

The clock (wall-clock seconds: the CLI and the daemon are different processes) and the random source
are injected, so every rule here is tested without waiting or luck.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols that cannot be misread
CODE_LENGTH = 8
CODE_VALID_SECONDS = 300.0
CODE_MAX_TRIES = 5
TOKEN_BYTES = 32
TOKEN_PREFIX = "wpo_"  # noqa: S105 - says what it is when it turns up somewhere (a web POS origin token)
_DEFAULT_PORTS = {"http": 80, "https": 443}

RandomBytes = Callable[[int], bytes]


class OriginError(ValueError):
    """Not an origin: a one-line reason for the operator."""


def normalise_origin(text: str) -> str:
    """`HTTPS://POS.Example.com:443` -> `https://pos.example.com`; anything but scheme://host[:port] is refused."""
    text = text.strip()
    if not text or not text.isascii() or not text.isprintable() or " " in text:
        raise OriginError(f"{text!r} is not an origin (like https://pos.example.com)")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OriginError(f"{text!r}: an origin starts with https:// (or http://)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise OriginError(f"{text!r}: an origin is scheme://host[:port] only, without a path")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise OriginError(f"{text!r}: the port is not a number from 1 to 65535") from None
    if not host:
        raise OriginError(f"{text!r}: the origin has no host")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{shown}:{port}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_code(text: str) -> str:
    """What the cashier typed -> the bare code: case, spaces and the dash do not matter."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def show_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def new_code(random_bytes: RandomBytes) -> str:
    # Rejection sampling: every symbol equally likely (256 is not a multiple of 31).
    limit = 256 - 256 % len(CODE_ALPHABET)
    symbols: list[str] = []
    while len(symbols) < CODE_LENGTH:
        for byte in random_bytes(CODE_LENGTH * 2):
            if byte < limit and len(symbols) < CODE_LENGTH:
                symbols.append(CODE_ALPHABET[byte % len(CODE_ALPHABET)])
    return "".join(symbols)


def new_token(random_bytes: RandomBytes) -> str:
    return TOKEN_PREFIX + random_bytes(TOKEN_BYTES).hex()


@dataclass(frozen=True)
class PendingCode:
    origin: str
    code_hash: str
    expires_at: float
    tries_left: int = CODE_MAX_TRIES


@dataclass(frozen=True)
class PairedOrigin:
    origin: str
    token_hash: str
    paired_at: float
    last_used: float | None = None


@dataclass(frozen=True)
class Paired:
    """The code was right: give `token` to the page (once; only its hash is kept)."""

    origin: str
    token: str


@dataclass(frozen=True)
class CodeRefused:
    message: str


@dataclass
class OriginBook:
    """Paired origins and pending codes. At most one code pending and one token per origin."""

    paired: dict[str, PairedOrigin] = field(default_factory=dict)
    pending: dict[str, PendingCode] = field(default_factory=dict)

    # --- what the CLI does

    def start_pairing(self, origin: str, now: float, random_bytes: RandomBytes) -> str:
        """A new code for `origin` (replacing any pending one); the origin's current token stays valid
        until the new code is used."""
        self.expire(now)
        code = new_code(random_bytes)
        self.pending[origin] = PendingCode(origin, digest(code), now + CODE_VALID_SECONDS)
        return code

    def revoke(self, origin: str) -> bool:
        """Forget the origin's token and any pending code; True when there was something to forget."""
        found = self.paired.pop(origin, None) is not None
        return self.pending.pop(origin, None) is not None or found

    # --- what the daemon does

    def expire(self, now: float) -> None:
        for origin, pending in list(self.pending.items()):
            if pending.expires_at <= now or pending.tries_left <= 0:
                del self.pending[origin]

    def admits(self, origin: str, now: float) -> bool:
        """May a page of `origin` open the WebSocket at all (paired, or a code is waiting for it)?"""
        self.expire(now)
        return origin in self.paired or origin in self.pending

    def pair(self, origin: str, typed: str, now: float, random_bytes: RandomBytes) -> Paired | CodeRefused:
        """The page of `origin` sends the code it was shown. Wrong tries are counted against the code."""
        pending = self.pending.get(origin)
        if pending is not None and pending.expires_at <= now:
            del self.pending[origin]
            return CodeRefused("the pairing code has expired: run posagent ecr pair again")
        if pending is None:
            return CodeRefused("no pairing code is pending for this origin (expired, used or never made): "
                               "run posagent ecr pair")  # fmt: skip
        if not hmac.compare_digest(digest(normalise_code(typed)), pending.code_hash):
            tries_left = pending.tries_left - 1
            if tries_left <= 0:
                del self.pending[origin]
                return CodeRefused("wrong pairing code; too many wrong tries, the code is void: "
                                   "run posagent ecr pair again")  # fmt: skip
            self.pending[origin] = replace(pending, tries_left=tries_left)
            return CodeRefused(f"wrong pairing code ({tries_left} tries left)")
        del self.pending[origin]
        token = new_token(random_bytes)
        self.paired[origin] = PairedOrigin(origin, digest(token), paired_at=now)
        return Paired(origin, token)

    def token_origin(self, token: str) -> str | None:
        """The origin this token was made for, or None (unknown or revoked)."""
        wanted = digest(token)
        for paired in self.paired.values():
            if hmac.compare_digest(paired.token_hash, wanted):
                return paired.origin
        return None

    def used(self, origin: str, now: float) -> None:
        paired = self.paired.get(origin)
        if paired is not None:
            self.paired[origin] = replace(paired, last_used=now)

    # --- on disk (JSON; see agent.ecr.origin_store)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1,
                "paired": [vars(p) for p in sorted(self.paired.values(), key=lambda p: p.origin)],
                "pending": [vars(p) for p in sorted(self.pending.values(), key=lambda p: p.origin)]}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> OriginBook:
        """Raises ValueError when the data is not a book (the caller says which file)."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("not a version 1 origin book")
        book = cls()
        try:
            for item in data.get("paired", []):
                paired = PairedOrigin(str(item["origin"]), str(item["token_hash"]), float(item["paired_at"]),
                                      None if item.get("last_used") is None else float(item["last_used"]))  # fmt: skip
                book.paired[paired.origin] = paired
            for item in data.get("pending", []):
                pending = PendingCode(str(item["origin"]), str(item["code_hash"]), float(item["expires_at"]),
                                      int(item["tries_left"]))  # fmt: skip
                book.pending[pending.origin] = pending
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed origin book entry ({exc})") from None
        return book
