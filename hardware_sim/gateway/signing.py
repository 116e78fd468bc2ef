"""RSA2/RSA request verification and response signing, pure functions over bytes and dicts.

Requests: every received non-empty text parameter except `sign` (files never reach here), sorted by
name, `k=v` joined by `&`, raw values, `sign_type` included. Responses: the exact bytes of the
`*_response` / `error_response` node as emitted."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"RSA2": hashes.SHA256, "RSA": hashes.SHA1}
SIGN_TYPES = frozenset(_HASHES)


def string_to_sign(params: Mapping[str, str]) -> str:
    return "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "sign" and params[name])


def verify_request(params: Mapping[str, str], public_key: rsa.RSAPublicKey, *, charset: str = "utf-8") -> bool:
    """True when `params["sign"]` is a valid signature of the string to sign (bad Base64 = invalid)."""
    algorithm = _HASHES.get(params.get("sign_type", ""))
    if algorithm is None:
        return False
    try:
        signature = base64.b64decode(params.get("sign", ""), validate=True)
        public_key.verify(signature, string_to_sign(params).encode(charset), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, binascii.Error, ValueError, LookupError):
        return False
    return True


def sign_bytes(content: bytes, private_key: rsa.RSAPrivateKey, sign_type: str = "RSA2") -> str:
    algorithm = _HASHES.get(sign_type, hashes.SHA256)
    return base64.b64encode(private_key.sign(content, padding.PKCS1v15(), algorithm())).decode("ascii")
