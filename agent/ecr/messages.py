"""ECR protocol v1 messages, sans I/O: request validation, responses, events, stable error codes.

    request  {"v":1,"type":"req","id":ID,"op":"sale.start","body":{...}}
    response {"v":1,"type":"res","id":ID,"ok":true,"body":{...}}
             {"v":1,"type":"res","id":ID,"ok":false,"error":{"code":..,"message":..,"retryable":..}}
    event    {"v":1,"type":"evt","seq":N,"epoch":E,"event":"scan","body":{...}}

Receivers ignore unknown fields, so both sides can grow without breaking the other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 128
MAX_OP_LENGTH = 64
# A JSON escape of a UTF-16 surrogate: json.loads turns a lone one into a str that no UTF-8 encoder takes.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    UNKNOWN_OP = "UNKNOWN_OP"
    BUSY = "BUSY"
    NOT_FOUND = "NOT_FOUND"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    DEVICE_UNAVAILABLE = "DEVICE_UNAVAILABLE"
    PRINTER_PAPER_OUT = "PRINTER_PAPER_OUT"
    PRINTER_COVER_OPEN = "PRINTER_COVER_OPEN"
    NETWORK_UNAVAILABLE = "NETWORK_UNAVAILABLE"
    OUTBOX_FULL = "OUTBOX_FULL"
    ALREADY_FINAL = "ALREADY_FINAL"
    STORAGE_FULL = "STORAGE_FULL"
    INTERNAL = "INTERNAL"


# Whether the same request may succeed if simply sent again later.
RETRYABLE = frozenset({ErrorCode.BUSY, ErrorCode.DEVICE_UNAVAILABLE, ErrorCode.PRINTER_PAPER_OUT,
                       ErrorCode.PRINTER_COVER_OPEN, ErrorCode.NETWORK_UNAVAILABLE, ErrorCode.OUTBOX_FULL,
                       ErrorCode.STORAGE_FULL, ErrorCode.INTERNAL})  # fmt: skip


@dataclass(frozen=True)
class Request:
    id: str | int
    op: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtocolError(Exception):
    """A request that cannot be served; `id` is echoed when the request had a usable one."""

    code: ErrorCode
    message: str
    id: str | int | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**53) <= value <= 2**53
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _encodable(message: dict[str, Any]) -> bool:
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_request(line: bytes) -> Request:
    """Validate one line as a request, or raise ProtocolError with the code the ECR should see."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the line is not valid UTF-8") from None
    try:
        message = json.loads(text)
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "JSON nested too deeply") from None
    except ValueError:  # JSONDecodeError, and integers beyond the int-string conversion limit
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the line is not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a message must be a JSON object")
    if _SURROGATE_ESCAPE.search(line) and not _encodable(message):
        # Found before anything echoes, stores or compares it (the id, a token, a body field).
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a string holds a lone surrogate escape (\\ud800-\\udfff)")
    raw_id = message.get("id")
    request_id = raw_id if _valid_id(raw_id) else None
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION, f"this agent speaks v{PROTOCOL_VERSION}", request_id)
    if message.get("type") != "req":
        raise ProtocolError(ErrorCode.BAD_REQUEST, 'type must be "req"', request_id)
    if request_id is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"id must be a string (1-{MAX_ID_LENGTH} chars) or an integer")
    op = message.get("op")
    if not isinstance(op, str) or not 0 < len(op) <= MAX_OP_LENGTH:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "op must be a non-empty string", request_id)
    body = message.get("body", {})
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "body must be a JSON object", request_id)
    return Request(request_id, op, body)


def _dump(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def ok_response(request_id: str | int, body: dict[str, Any] | None = None) -> bytes:
    return _dump({"v": PROTOCOL_VERSION, "type": "res", "id": request_id, "ok": True, "body": body or {}})


def error_response(request_id: str | int | None, code: ErrorCode, message: str) -> bytes:
    error = {"code": code.value, "message": message, "retryable": code in RETRYABLE}
    return _dump({"v": PROTOCOL_VERSION, "type": "res", "id": request_id, "ok": False, "error": error})


def event_message(seq: int, epoch: str, event: str, body: dict[str, Any]) -> bytes:
    return _dump({"v": PROTOCOL_VERSION, "type": "evt", "seq": seq, "epoch": epoch, "event": event, "body": body})
