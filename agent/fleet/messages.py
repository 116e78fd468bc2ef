"""The two messages of the fleet link, as bytes on the broker. Pure: the caller passes nonces and times.

**Callback** (relay -> till, on the till's callback topic): the open-card callback's query parameters
as Alipay sent them, and in the relay's exchange mode the customer's authorization it already got.
Sealed with AES-256-GCM under a key only the relay and that till hold (derived from the till's fleet
key), with the topic as associated data. So the broker, its persistence file and anyone who can
publish on the topic see nothing and can forge nothing; a message moved to another till's topic
does not open.

    payload = 0x01 | nonce (12 bytes) | AES-GCM(json, aad=topic)
    json    = {"v": 1, "id": "<relay message id>", "received_at": <epoch s>,
               "params": {"auth_code": ..., "template_id": ..., "request_id": ..., "out_string": ...},
               "authorization": null | {"access_token": ..., "user_id": ..., "expires_in": N, "obtained_at": <epoch s>}}

**Status** (till -> retained on its status topic; the last will says offline): plain JSON, because
headquarters' fleet view reads it, and it never holds a secret or a payment code:

    {"v": 1, "chain", "store", "till", "online": true, "at": <epoch s>, "version": "0.1.0",
     "reason": null, "alipay_online": true, "outbox": {"pending": 0, "dead": 0, "oldest_pending_age": null},
     "devices": [{"device": "printer", "kind": "printer", "state": "ready"}], "last_error": null}

Receivers ignore unknown fields, as on the ECR protocol.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .topics import TillRef

VERSION = 1
SEALED_FORMAT = b"\x01"
NONCE_BYTES = 12
MAX_CALLBACK_BYTES = 16 * 1024  # a callback's parameters are a few hundred bytes
MAX_STATUS_BYTES = 16 * 1024
MAX_PARAMS = 20
MAX_PARAM_CHARS = 512
MAX_TEXT_CHARS = 200  # status texts (device names, states, the last error)
MAX_DEVICES = 32
# What the till's fleet key is turned into (offline_queue's key file `.derive(label)`): one key each.
PAYLOAD_KEY_LABEL = "posagent:fleet-callback:v1"
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


class FleetMessageError(ValueError):
    """A message that is not one of ours: wrong format, does not open under our key, malformed.
    The text never quotes the payload. `reason` is a short stable word for counters: oversized,
    unsealed (not sealed at all), unopened (does not open under this key and topic), malformed."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


# --- the callback ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorization:
    """What the relay's oauth.token exchange gave (exchange mode): the till opens the card with it."""

    access_token: str
    user_id: str
    expires_in: int
    obtained_at: float

    def __repr__(self) -> str:  # the token is a secret
        return f"Authorization(user_id=..., expires_in={self.expires_in}, obtained_at={self.obtained_at})"


@dataclass(frozen=True)
class CallbackMessage:
    id: str
    received_at: float
    params: Mapping[str, str]
    authorization: Authorization | None = None

    def __repr__(self) -> str:  # params hold the auth_code, a secret
        exchange = self.authorization is not None
        return f"CallbackMessage(id={self.id!r}, received_at={self.received_at}, exchange={exchange})"


def seal_callback(key: bytes, topic: str, message: CallbackMessage, nonce: bytes) -> bytes:
    """The payload to publish on `topic` (`nonce`: 12 random bytes, never reused with this key)."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError("the nonce must be 12 bytes")
    body: dict[str, Any] = {"v": VERSION, "id": message.id, "received_at": message.received_at,
                            "params": dict(message.params), "authorization": None}  # fmt: skip
    if message.authorization is not None:
        a = message.authorization
        body["authorization"] = {"access_token": a.access_token, "user_id": a.user_id, "expires_in": a.expires_in,
                                 "obtained_at": a.obtained_at}  # fmt: skip
    plain = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    payload = SEALED_FORMAT + nonce + AESGCM(key).encrypt(nonce, plain, topic.encode())
    if len(payload) > MAX_CALLBACK_BYTES:
        raise ValueError("the callback is too large to send")
    return payload


def open_callback(key: bytes, topic: str, payload: bytes) -> CallbackMessage:
    """The callback in a payload received on `topic`; FleetMessageError for anything else."""
    if len(payload) > MAX_CALLBACK_BYTES:
        raise FleetMessageError(f"message of {len(payload)} bytes (at most {MAX_CALLBACK_BYTES})", "oversized")
    if not payload.startswith(SEALED_FORMAT) or len(payload) < 1 + NONCE_BYTES + 16:
        raise FleetMessageError("not a sealed fleet callback", "unsealed")
    nonce, sealed = payload[1 : 1 + NONCE_BYTES], payload[1 + NONCE_BYTES :]
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, topic.encode())
    except InvalidTag:
        raise FleetMessageError("does not open under this till's key (forged, or sent to another till)",
                                "unopened") from None
    try:
        body = json.loads(plain)
    except (ValueError, RecursionError):
        raise FleetMessageError("the sealed body is not JSON") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise FleetMessageError("unknown callback message version")
    message_id, received_at, params = body.get("id"), body.get("received_at"), body.get("params")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise FleetMessageError("bad message id")
    received = _number(received_at)
    if received is None:
        raise FleetMessageError("bad received_at")
    if (not isinstance(params, dict) or len(params) > MAX_PARAMS
            or not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= MAX_PARAM_CHARS
                       for k, v in params.items())):  # fmt: skip
        raise FleetMessageError("params must be at most 20 short strings")
    return CallbackMessage(message_id, received, dict(params), _authorization(body.get("authorization")))


def _authorization(value: object) -> Authorization | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FleetMessageError("bad authorization")
    token, user_id, expires_in, obtained_at = (value.get(k) for k in ("access_token", "user_id", "expires_in",
                                                                         "obtained_at"))  # fmt: skip
    obtained = _number(obtained_at)
    if (not isinstance(token, str) or not 0 < len(token) <= 256 or not isinstance(user_id, str)
            or not 0 < len(user_id) <= 64 or isinstance(expires_in, bool) or not isinstance(expires_in, int)
            or not 0 < expires_in <= 10**9 or obtained is None):  # fmt: skip
        raise FleetMessageError("bad authorization")
    return Authorization(token, user_id, expires_in, obtained)


def _number(value: object) -> float | None:
    """A finite JSON number as a float, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# --- the status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceState:
    device: str
    kind: str
    state: str


@dataclass(frozen=True)
class TillStatus:
    till: TillRef
    online: bool
    at: float
    version: str | None = None
    reason: str | None = None  # offline: "stopped" (a clean stop) or "connection lost" (the last will)
    alipay_online: bool | None = None
    outbox_pending: int = 0
    outbox_dead: int = 0
    oldest_pending_age: float | None = None
    devices: tuple[DeviceState, ...] = field(default_factory=tuple)
    last_error: str | None = None


def encode_status(status: TillStatus) -> bytes:
    t = status.till
    body = {
        "v": VERSION, "chain": t.chain, "store": t.store, "till": t.till, "online": status.online, "at": status.at,
        "version": status.version, "reason": status.reason, "alipay_online": status.alipay_online,
        "outbox": {"pending": status.outbox_pending, "dead": status.outbox_dead,
                   "oldest_pending_age": status.oldest_pending_age},
        "devices": [{"device": d.device, "kind": d.kind, "state": d.state} for d in status.devices[:MAX_DEVICES]],
        "last_error": status.last_error,
    }  # fmt: skip
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_status(till: TillRef, payload: bytes) -> TillStatus:
    """A till's status from its status topic (`till` comes from the topic, which the ACL vouches for)."""
    if len(payload) > MAX_STATUS_BYTES:
        raise FleetMessageError(f"status of {len(payload)} bytes (at most {MAX_STATUS_BYTES})")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        raise FleetMessageError("status is not JSON") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise FleetMessageError("unknown status version")
    if (body.get("chain"), body.get("store"), body.get("till")) != (till.chain, till.store, till.till):
        raise FleetMessageError("status names another till than its topic")
    online, at = body.get("online"), _number(body.get("at"))
    if not isinstance(online, bool) or at is None:
        raise FleetMessageError("status needs online and at")
    outbox: dict[str, Any] = body["outbox"] if isinstance(body.get("outbox"), dict) else {}
    devices: list[Any] = body["devices"] if isinstance(body.get("devices"), list) else []
    alipay_online = body.get("alipay_online")
    return TillStatus(
        till=till, online=online, at=at, version=_text(body.get("version")), reason=_text(body.get("reason")),
        alipay_online=alipay_online if isinstance(alipay_online, bool) else None,
        outbox_pending=_count(outbox.get("pending")), outbox_dead=_count(outbox.get("dead")),
        oldest_pending_age=_number(outbox.get("oldest_pending_age")),
        devices=tuple(_device(d) for d in devices[:MAX_DEVICES] if isinstance(d, dict)),
        last_error=_text(body.get("last_error")),
    )  # fmt: skip


def _device(value: dict[str, Any]) -> DeviceState:
    return DeviceState(_text(value.get("device")) or "?", _text(value.get("kind")) or "?",
                       _text(value.get("state")) or "?")  # fmt: skip


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    printable = "".join(c if c.isprintable() else "?" for c in value[:MAX_TEXT_CHARS])
    return printable


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12 else 0


# Device states that count as working (the agent's devices.is_working, restated for headquarters,
# which must not import the daemon; a test keeps the two equal).
WORKING_DEVICE_STATES = frozenset({"ready", "paper_near_end", "connected"})


def problems(status: TillStatus, *, backlog_age_warn: float = 600.0) -> list[str]:
    """What is wrong with a till, worst first (empty: healthy). For the fleet view and its metrics."""
    found: list[str] = []
    if not status.online:
        found.append(f"offline ({status.reason or 'no status'})")
    if status.alipay_online is False:
        found.append("Alipay unreachable from the till")
    if status.outbox_dead:
        found.append(f"{status.outbox_dead} dead job(s)")
    if status.oldest_pending_age is not None and status.oldest_pending_age > backlog_age_warn:
        found.append(f"backlog: {status.outbox_pending} pending, oldest {status.oldest_pending_age:.0f} s")
    found.extend(f"{d.kind} {d.device}: {d.state}" for d in status.devices if d.state not in WORKING_DEVICE_STATES)
    return found
