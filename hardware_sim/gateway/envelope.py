"""Response envelopes, byte-exact: `{"<method>_response":{...},"sign":"..."}`, compact JSON, the
signature computed over exactly the node's bytes as emitted (what every client verifies)."""

from __future__ import annotations

import json
from collections.abc import Callable

from .charsets import JSON_ESCAPE

Signer = Callable[[bytes], str]


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def node_json(node: dict[str, object]) -> str:
    # Compact, raw UTF-8, insertion order kept (code and msg first, like the real gateway); `/` unescaped.
    return json.dumps(node, ensure_ascii=False, separators=(",", ":"))


def render(
    key: str,
    node: dict[str, object],
    *,
    charset: str,
    signer: Signer | None,
    corrupt_sign: bool = False,
    cert_sn: str | None = None,
) -> bytes:
    """The whole body. `signer=None` gives the unsigned form (unknown app); `corrupt_sign` signs other
    bytes so the signature is well-formed but wrong (fault injection); `cert_sn` (certificate mode) adds
    `"alipay_cert_sn"` between the node and `sign`, the real order, outside the signed bytes."""
    node_bytes = node_json(node).encode(charset, JSON_ESCAPE)
    head = b'{"' + key.encode(charset) + b'":' + node_bytes
    if signer is None:
        return head + b"}"
    signature = signer(node_bytes + b" " if corrupt_sign else node_bytes)
    if cert_sn is not None:
        head += b',"alipay_cert_sn":' + json.dumps(cert_sn).encode(charset)
    return head + b',"sign":"' + signature.encode("ascii") + b'"}'
