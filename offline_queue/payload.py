"""Payload (de)serialisation with sensitive top-level fields sealed (pure apart from the cipher).

A sealed field is stored as {"$sealed": "v1:..."}; everything else is plain JSON, so operators
can read a dead letter's non-sensitive fields and nobody can read a phone number from the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from offline_queue.crypto import PayloadCipher, binding
from offline_queue.errors import KeyFileError, PayloadUnreadable

SEALED = "$sealed"
REDACTED = "<sensitive>"


# Built once: json.dumps with non-default options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def seal_payload(
    payload: dict[str, Any],
    sensitive: Iterable[str],
    cipher: PayloadCipher | None,
    *,
    kind: str,
    idempotency_key: str,
) -> str:
    stored = dict(payload)
    fields = [name for name in sensitive if name in payload]
    if fields and cipher is None:
        raise KeyFileError("payload has sensitive fields but the outbox was opened without a key file")
    for name in fields:
        assert cipher is not None
        stored[name] = {
            SEALED: cipher.seal(canonical_json(payload[name]), binding=binding(kind, idempotency_key, name))
        }
    return canonical_json(stored)


def open_payload(text: str, cipher: PayloadCipher | None, *, kind: str, idempotency_key: str) -> dict[str, Any]:
    """Decrypt every sealed field; raise PayloadUnreadable if any cannot be (never skip it)."""
    stored: dict[str, Any] = json.loads(text)
    for name, value in stored.items():
        if _is_sealed(value):
            if cipher is None:
                raise PayloadUnreadable("payload unreadable: key lost (no key file loaded)")
            plain = cipher.open(value[SEALED], binding=binding(kind, idempotency_key, name))
            stored[name] = json.loads(plain)
    return stored


def redacted_payload(text: str) -> dict[str, Any]:
    """The stored payload with sealed fields shown as "<sensitive>" (for listings and the CLI)."""
    stored: dict[str, Any] = json.loads(text)
    return {name: REDACTED if _is_sealed(value) else value for name, value in stored.items()}


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str)
