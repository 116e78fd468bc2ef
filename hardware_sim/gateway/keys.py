"""RSA keys: the gateway's own key pair (kept in the state dir) and parsing of app public keys.

The simulator has its own key code on purpose: it must not share a line with the agent's signing."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PRIVATE_KEY_FILE = "alipay_private_key.pem"
PUBLIC_KEY_FILE = "alipay_public_key.pem"


class KeyFormatError(ValueError):
    """The text is not an RSA key in any format we accept."""


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM: what merchants paste into their config as the Alipay public key."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_or_create_gateway_key(state_dir: Path | None) -> rsa.RSAPrivateKey:
    """The gateway key pair; persisted (private key 0600) when there is a state dir, else ephemeral."""
    if state_dir is None:
        return generate_private_key()
    state_dir.mkdir(parents=True, exist_ok=True)
    private_path = state_dir / PRIVATE_KEY_FILE
    if private_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFormatError(f"{private_path} is not an RSA private key")
    else:
        key = generate_private_key()
        # Create with 0600 from the start: never a window where the key is world-readable.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_pem(key))
    (state_dir / PUBLIC_KEY_FILE).write_text(public_pem(key.public_key()))
    return key


def parse_public_key(text: str | bytes) -> rsa.RSAPublicKey:
    """An app public key from PEM (SPKI or PKCS#1), a private-key PEM (PKCS#1/PKCS#8: its public half)
    or one-line Base64 DER (SPKI or PKCS#1), the forms merchants copy from Alipay's key tool."""
    raw = text.encode() if isinstance(text, str) else text
    raw = raw.strip()
    if not raw:
        raise KeyFormatError("empty key")
    if raw.startswith(b"-----BEGIN"):
        key: object
        try:
            if b"PRIVATE KEY" in raw.split(b"\n", 1)[0]:
                key = serialization.load_pem_private_key(raw, password=None).public_key()
            else:
                key = serialization.load_pem_public_key(raw)
        except (ValueError, TypeError) as exc:
            raise KeyFormatError(f"unreadable PEM key: {exc}") from None
    else:
        try:
            der = base64.b64decode(b"".join(raw.split()), validate=True)
        except binascii.Error:
            raise KeyFormatError("not PEM and not Base64") from None
        key = _load_der_public(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("not an RSA key")
    return key


def _load_der_public(der: bytes) -> object:
    try:
        return serialization.load_der_public_key(der)
    except ValueError:
        pass
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    try:
        return serialization.load_pem_public_key(pem)
    except ValueError:
        raise KeyFormatError("Base64 text is not an RSA public key (SPKI or PKCS#1)") from None
