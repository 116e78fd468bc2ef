"""The `out_string` the agent puts in each enrollment's activation URL, and checks on the callback.

Alipay echoes `out_string` back on the callback, but through the customer's browser: anyone can
edit it. So it carries a MAC under a key only this agent holds, and a callback whose out_string
does not verify is refused before anything is queued. Layout (readable, versioned, at most 124
characters with the longest ids; Alipay allows 256):

    v1.<store>.<till>.<enrollment job id>.<mac>      e.g. v1.SH01.T1.E-42.4xBv0sGq9Yk2c1W8dJfR3w

store and till stay in clear so a headquarters relay can route a callback to its till without
any key (`parse`); only the agent verifies (`verify`). The MAC is HMAC-SHA256 over the version,
store, till and job, truncated to 128 bits, base64url without padding.

Pure: no I/O, no clock, nothing from the daemon (a relay package may import this module).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

VERSION = "v1"
MAX_LENGTH = 256  # Alipay's limit for out_string
KEY_LABEL = "posagent:callback-out-string:v1"  # derives the MAC key from the agent's at-rest key
MAC_BYTES = 16

_STORE_OR_TILL = r"[A-Za-z0-9]{1,16}"
_JOB = r"[A-Za-z0-9_.:\-]{1,64}"  # the ECR's business ids (member.enroll job_id)
_MAC = r"[A-Za-z0-9_\-]{22}"  # 16 bytes, base64url, no padding
# Always fullmatch: `$` would also match before a trailing newline.
_LAYOUT = re.compile(rf"{VERSION}\.({_STORE_OR_TILL})\.({_STORE_OR_TILL})\.({_JOB})\.({_MAC})")
_STORE_RE, _JOB_RE = re.compile(_STORE_OR_TILL), re.compile(_JOB)


class OutStringError(ValueError):
    """The out_string is not one this agent wrote. Messages never quote the value."""


@dataclass(frozen=True)
class SlipRef:
    """Which enrollment (of which store and till) an activation slip was printed for."""

    store: str
    till: str
    job: str


def _mac(key: bytes, ref: SlipRef) -> str:
    message = "\x00".join((VERSION, ref.store, ref.till, ref.job)).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def encode(key: bytes, ref: SlipRef) -> str:
    """The out_string for this enrollment. Raises ValueError for ids outside the layout."""
    if not _STORE_RE.fullmatch(ref.store) or not _STORE_RE.fullmatch(ref.till):
        raise ValueError("store and till ids: 1-16 letters or digits")
    if not _JOB_RE.fullmatch(ref.job):
        raise ValueError("enrollment job id: 1-64 letters, digits or _ . : -")
    return f"{VERSION}.{ref.store}.{ref.till}.{ref.job}.{_mac(key, ref)}"


def parse(text: str) -> SlipRef:
    """Store, till and job of a well-formed out_string, NOT verified (for routing only)."""
    if len(text) > MAX_LENGTH:
        raise OutStringError("out_string is longer than 256 characters")
    if not text.startswith(VERSION + "."):
        if re.match(r"^v\d+\.", text):
            raise OutStringError("out_string has a version this agent does not know")
        raise OutStringError("out_string was not written by this agent (an older release, or edited)")
    match = _LAYOUT.fullmatch(text)
    if match is None:
        raise OutStringError("out_string is malformed")
    return SlipRef(match.group(1), match.group(2), match.group(3))


def verify(key: bytes, text: str) -> SlipRef:
    """The enrollment an out_string names, if its MAC verifies under `key`; else OutStringError."""
    ref = parse(text)
    if not hmac.compare_digest(text.rsplit(".", 1)[1], _mac(key, ref)):
        raise OutStringError("out_string does not verify (edited, or written by another till)")
    return ref
