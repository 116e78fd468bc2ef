"""Device addresses as people may see them: credentials masked (pure, no I/O).

A camera stream or a network device is often configured with its password in the URL
(`rtsp://admin:secret@192.168.1.64/stream`, `http://cam/snapshot.cgi?user=admin&pwd=secret`). The
address is also the device's name on every surface (status page, /metrics labels, ECR events, logs,
doctor, support bundle), so every surface shows `display_address(...)`, never the configured text:

    display_address("rtsp://admin:secret@cam/stream")    -> "rtsp://admin:***@cam/stream"
    display_address("http://cam/snap.cgi?user=a&pwd=x")  -> "http://cam/snap.cgi?user=a&pwd=***"
    redact_urls("cannot open rtsp://a:b@cam/1: timeout") -> "cannot open rtsp://a:***@cam/1: timeout"

It lives in `drivers` so that the drivers (which cannot import the agent) and the agent use the
same rule. Both functions are idempotent. When an address is ambiguous (a password holding `/`, `?`
or `@` without percent-encoding) they mask too much rather than too little.
"""

from __future__ import annotations

import re

MASK = "***"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.DOTALL)
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>`]+", re.ASCII)
# A user name is shown only when it is plainly one (RFC 3986 userinfo characters, no ':').
_PLAIN_USER = re.compile(r"^[A-Za-z0-9._~%!$&()*+,;=-]*$")
_SECRET_PARAM = re.compile(r"(?i)pass|pwd|secret|token|key|auth|sig|cred|session")


def display_address(address: str | int) -> str:
    """The address with any password (userinfo, secret-looking query values) replaced by ***."""
    text = str(address)
    match = _SCHEME.fullmatch(text)
    if match is None:  # /dev/video0, a camera index, a serial path: nothing to hide
        return text
    scheme, rest = match.groups()
    at = rest.rfind("@")  # the last '@': a password may hold an unencoded '@' of its own
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, _ = userinfo.partition(":")
        shown = f"{user}:{MASK}" if colon and _PLAIN_USER.fullmatch(user) else MASK
        rest = f"{shown}@{rest}"
    return scheme + _mask_query(rest)


def redact_urls(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it passed through `display_address`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: display_address(m.group(0)), text)


def _mask_query(rest: str) -> str:
    before, question, query = rest.partition("?")
    if not question:
        return rest
    query, hash_mark, fragment = query.partition("#")
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and value and _SECRET_PARAM.search(name) else pair)
    return f"{before}?{'&'.join(pairs)}{hash_mark}{fragment}"
