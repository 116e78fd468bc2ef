"""RSA2 signatures as the Alipay gateway computes them. Pure functions: no I/O, no clock.

Request string to sign: every non-empty parameter except ``sign`` (file parts never enter the
parameter map), sorted by name, ``name=value`` joined with ``&``, raw (not URL-encoded) values,
``sign_type`` included. Signature: SHA256withRSA, PKCS#1 v1.5, standard Base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def string_to_sign(params: Mapping[str, str]) -> str:
    return "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "sign" and params[name])


def sign_rsa2(content: str, key: rsa.RSAPrivateKey, charset: str = "utf-8") -> str:
    return base64.b64encode(key.sign(content.encode(charset), _PKCS1, _SHA256)).decode("ascii")


def sign_params(params: Mapping[str, str], key: rsa.RSAPrivateKey, charset: str = "utf-8") -> str:
    return sign_rsa2(string_to_sign(params), key, charset)


def verify_rsa2(content: bytes, signature: str, key: rsa.RSAPublicKey) -> bool:
    """True only for a well-formed Base64 signature that verifies over exactly these bytes."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, content, _PKCS1, _SHA256)
    except InvalidSignature:
        return False
    return True
