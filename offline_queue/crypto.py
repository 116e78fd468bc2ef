"""At-rest encryption of sensitive payload fields: AES-256-GCM under a 0600 key file.

The key file holds 32 random bytes, base64-encoded on one line; it is created once at install
time with `create_key_file`. Each sealed value carries its own random 96-bit nonce, and the
associated data binds it to its job (kind + idempotency key + field name), so a ciphertext copied
into another row or field fails authentication instead of decrypting to the wrong customer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from offline_queue.errors import KeyFileError, PayloadUnreadable

KEY_BYTES = 32
NONCE_BYTES = 12
_PREFIX = "v1:"  # format version of a sealed value, so a future scheme can coexist


def create_key_file(path: str | os.PathLike[str]) -> Path:
    """Create a new key file, mode 0600, refusing to overwrite an existing one."""
    target = Path(path)
    key = base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)) + b"\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {target} already exists; refusing to replace it") from None
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, but be explicit
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def load_key_file(path: str | os.PathLike[str]) -> PayloadCipher:
    """Read a key file; refuse it if missing, readable by group/others, or malformed."""
    source = Path(path)
    try:
        info = source.stat()
    except FileNotFoundError:
        raise KeyFileError(f"key file {source} is missing") from None
    except OSError as exc:
        raise KeyFileError(f"key file {source} cannot be read: {exc.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyFileError(f"key file {source} has mode {mode:04o}; it must be 0600 (chmod 600 {source})")
    try:
        raw = base64.b64decode(source.read_bytes().strip(), validate=True)
    except (OSError, binascii.Error, ValueError):
        raise KeyFileError(f"key file {source} is unreadable or not base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyFileError(f"key file {source} holds {len(raw)} bytes, expected {KEY_BYTES}")
    return PayloadCipher(raw)


class PayloadCipher:
    """Seals and opens single field values (UTF-8 text) bound to their job and field."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._key = key

    def __repr__(self) -> str:
        return "PayloadCipher(<key hidden>)"

    def seal(self, plaintext: str, *, binding: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), binding.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, *, binding: str) -> str:
        if not token.startswith(_PREFIX):
            raise PayloadUnreadable("sealed value has an unknown format")
        try:
            blob = base64.b64decode(token[len(_PREFIX) :], validate=True)
            nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
            return self._aead.decrypt(nonce, sealed, binding.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            # Wrong key, or the value was moved from another job/field, or tampered with.
            raise PayloadUnreadable("sealed value does not authenticate under this key") from None

    def derive(self, label: str) -> bytes:
        """A separate secret for another purpose (e.g. keyed fingerprints), never the AES key itself."""
        return hmac.new(self._key, label.encode(), hashlib.sha256).digest()


def binding(kind: str, idempotency_key: str, field_name: str) -> str:
    """Associated data tying a sealed value to exactly one job field."""
    return f"{kind}\x00{idempotency_key}\x00{field_name}"
