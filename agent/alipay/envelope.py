"""The OpenAPI envelope, both ways. Pure code: no sockets, no clock (the caller passes `now`).

Requests: common parameters (and `sign`) travel in the query string, business parameters in a
form-encoded body, or as multipart text parts next to a file part for uploads.

Responses: ``{"<method>_response": {...}, "sign": "..."}`` or ``{"error_response": {...}, "sign": ...}``.
The signature covers the exact bytes of the node's JSON value as it appears in the body, so the node
is located by scanning the top-level object with the JSON scanner, never by re-serialising it and
never by searching for ``"sign"`` (a value may contain that text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import urlencode

CHINA_TIME = timezone(timedelta(hours=8), "UTC+08:00")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

# Parameters the official SDKs put in the URL; everything else goes in the body.
QUERY_PARAMS = frozenset(
    {
        "app_id", "method", "format", "charset", "sign_type", "sign", "timestamp", "version",
        "notify_url", "return_url", "app_auth_token", "auth_token", "alipay_sdk", "prod_code",
        "terminal_type", "terminal_info", "app_cert_sn", "alipay_root_cert_sn",
    }
)  # fmt: skip

_DECODER = json.JSONDecoder()
_CERT_SN = re.compile(r"[0-9a-fA-F]{32}")
_WHITESPACE = " \t\n\r"


def china_timestamp(now: datetime) -> str:
    """Alipay's `timestamp`: China time (UTC+8) whatever the host's time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (the host time zone must never leak in)")
    return now.astimezone(CHINA_TIME).strftime(TIMESTAMP_FORMAT)


def encode_biz_content(biz: Mapping[str, Any]) -> str:
    # Compact, sorted and raw UTF-8 like the official Python SDK; the gateway signs the literal text.
    return json.dumps(biz, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class FilePart:
    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class PreparedRequest:
    """A signed request, ready for any HTTP library."""

    method: str
    gateway_url: str
    query: dict[str, str]
    body: dict[str, str]
    files: dict[str, FilePart] = field(default_factory=dict)

    @property
    def url(self) -> str:
        separator = "&" if "?" in self.gateway_url else "?"
        return f"{self.gateway_url}{separator}{urlencode(self.query)}"

    @property
    def signed_params(self) -> dict[str, str]:
        return {**self.query, **self.body}


@dataclass(frozen=True)
class ResponseNode:
    """The signed member of a response: its name, exact bytes, parsed value and signature."""

    name: str
    raw: bytes
    data: dict[str, Any]
    sign: str | None
    # `alipay_cert_sn` (certificate mode: the Alipay certificate that signed), lower case; "" when it is
    # there but is not an SN.
    cert_sn: str | None = None


class MalformedResponse(ValueError):
    """The body is not a gateway envelope for this method."""


def response_node_name(method: str) -> str:
    return method.replace(".", "_") + "_response"


def split_params(params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    query = {k: v for k, v in params.items() if k in QUERY_PARAMS and v}
    body = {k: v for k, v in params.items() if k not in QUERY_PARAMS and v}
    return query, body


def _top_level_members(text: str) -> list[tuple[str, int, int, Any]]:
    """(name, start, end, value) of each member of the top-level object, positions in `text`."""
    length = len(text)

    def skip(pos: int) -> int:
        while pos < length and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    pos = skip(0)
    if pos >= length or text[pos] != "{":
        raise MalformedResponse("the body is not a JSON object")
    members: list[tuple[str, int, int, Any]] = []
    pos = skip(pos + 1)
    if pos < length and text[pos] == "}":
        return members
    while True:
        if pos >= length or text[pos] != '"':
            raise MalformedResponse("a member name was expected")
        name, pos = scanstring(text, pos + 1)
        pos = skip(pos)
        if pos >= length or text[pos] != ":":
            raise MalformedResponse("':' was expected after a member name")
        start = skip(pos + 1)
        value, end = _DECODER.raw_decode(text, start)
        members.append((name, start, end, value))
        pos = skip(end)
        if pos < length and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < length and text[pos] == "}":
            if skip(pos + 1) != length:
                raise MalformedResponse("data after the JSON object")
            return members
        raise MalformedResponse("',' or '}' was expected")


def locate_response(body: bytes, method: str, charset: str = "utf-8") -> ResponseNode:
    """Find the method's node (or `error_response`) and the exact bytes its signature covers."""
    try:
        text = body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise MalformedResponse(f"the body is not valid {charset}") from None
    try:
        members = _top_level_members(text)
    except MalformedResponse:
        raise
    except RecursionError:  # the JSON scanner recurses once per nesting level
        raise MalformedResponse("the body is nested too deeply") from None
    except (ValueError, IndexError):
        raise MalformedResponse("the body is not valid JSON") from None
    expected = response_node_name(method)
    names = [m[0] for m in members]
    if len(names) != len(set(names)):
        raise MalformedResponse("duplicate members in the envelope")
    nodes = [m for m in members if m[0] in (expected, "error_response")]
    if len(nodes) != 1:
        raise MalformedResponse(f"expected exactly one of {expected!r} or 'error_response'")
    name, start, end, value = nodes[0]
    if not isinstance(value, dict):
        raise MalformedResponse(f"{name} is not an object")
    sign = next((m[3] for m in members if m[0] == "sign"), None)
    if sign is not None and not isinstance(sign, str):
        raise MalformedResponse("sign is not a string")
    cert_sn = next((m[3] for m in members if m[0] == "alipay_cert_sn"), None)
    if cert_sn is not None:
        # Only certificate mode reads it (and refuses anything else than 32 hex digits).
        cert_sn = cert_sn.lower() if isinstance(cert_sn, str) and _CERT_SN.fullmatch(cert_sn) else ""
    # Decoding was lossless, so re-encoding the slice yields exactly the bytes that were signed.
    return ResponseNode(name=name, raw=text[start:end].encode(charset), data=value, sign=sign, cert_sn=cert_sn)


def utc_now() -> datetime:
    return datetime.now(UTC)
