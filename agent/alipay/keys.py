"""RSA keys in every form merchants meet them.

Alipay's console and key tool hand out keys as PEM (PKCS#1, armoured as an "RSA private key", or
PKCS#8) or as one line of Base64 DER with no armour; public keys as X.509
SubjectPublicKeyInfo (PEM or one-line Base64). All of them load here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class KeyFormatError(ValueError):
    """A key file or key text cannot be used. The message never contains key material."""


def _der_from_text(text: str) -> bytes | None:
    """One-line (or wrapped) Base64 without PEM armour, as the Alipay console shows keys."""
    compact = "".join(text.split())
    if not compact or compact.startswith("-----"):
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def load_private_key(data: str | bytes) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PKCS#1 PEM, PKCS#8 PEM or one-line Base64 DER (either structure)."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    return _parse_private_key(text)


# Parsing a key checks it (a malformed RSA key can leak itself through faulty signatures), which
# takes ~50-100 ms for 2048 bits: the start-up check and the start itself read the same file, so the
# same text is parsed once per process. Keyed by content: a changed file is parsed again.
@functools.lru_cache(maxsize=4)
def _parse_private_key(text: str) -> rsa.RSAPrivateKey:
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
        else:
            der = _der_from_text(text)
            if der is None:
                raise KeyFormatError("not a PEM key and not Base64 key text")
            key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError(
            "cannot read the private key (expected PKCS#1 or PKCS#8 PEM, or the one-line Base64 form; "
            "encrypted keys are not supported)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("the private key is not an RSA key (RSA2 needs RSA)")
    if key.key_size < 2048:
        raise KeyFormatError(f"the private key has {key.key_size} bits; RSA2 needs at least 2048")
    return key


def load_public_key(data: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from SubjectPublicKeyInfo PEM, PKCS#1 PEM or one-line Base64 DER."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.strip().encode("ascii"))
        else:
            der = _der_from_text(text)
            if der is None:
                raise KeyFormatError("not a PEM key and not Base64 key text")
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError(
            "cannot read the public key (expected PEM or the one-line Base64 form from the Alipay console)"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("the public key is not an RSA key")
    return key


def check_private_key_file_mode(path: Path) -> None:
    """Refuse a private key that other users can read: it signs payments."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFormatError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


def read_private_key_file(path: Path, *, check_mode: bool = True) -> rsa.RSAPrivateKey:
    try:
        if check_mode:
            check_private_key_file_mode(path)
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFormatError(f"private key file not found: {path}") from None
    except PermissionError:
        raise KeyFormatError(f"private key file not readable by this user: {path}") from None
    try:
        return load_private_key(data)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from None


def read_public_key_file(path: Path) -> rsa.RSAPublicKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFormatError(f"public key file not found: {path}") from None
    except PermissionError:
        raise KeyFormatError(f"public key file not readable by this user: {path}") from None
    try:
        return load_public_key(data)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from None


def one_line_public_key(key: rsa.RSAPublicKey) -> str:
    """The form the Alipay console asks for: Base64 of the DER SubjectPublicKeyInfo, one line."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class GeneratedKeyPair:
    private_key_path: Path
    public_key_path: Path
    public_key_one_line: str
    csr_path: Path | None = None


PRIVATE_KEY_FILENAME = "app_private_key.pem"
PUBLIC_KEY_FILENAME = "app_public_key.pem"
CSR_FILENAME = "app_cert_request.csr"


@dataclass(frozen=True)
class CsrSubject:
    """Who the app certificate is issued to. The console checks the organisation against the account."""

    common_name: str  # the app id is a good choice
    organization: str
    country: str = "CN"

    def to_name(self) -> x509.Name:
        oid = x509.NameOID
        return x509.Name([x509.NameAttribute(oid.COUNTRY_NAME, self.country),
                          x509.NameAttribute(oid.ORGANIZATION_NAME, self.organization),
                          x509.NameAttribute(oid.COMMON_NAME, self.common_name)])  # fmt: skip


def certificate_request_pem(key: rsa.RSAPrivateKey, subject: CsrSubject) -> bytes:
    """A PKCS#10 CSR (SHA256withRSA) for the console's certificate mode: it issues the app certificate."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject.to_name()).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def generate_app_key_pair(
    out_dir: Path, *, overwrite: bool = False, csr_subject: CsrSubject | None = None
) -> GeneratedKeyPair:
    """Write a new RSA-2048 app key pair: the private key mode 0600 from the first byte on; with a
    `csr_subject`, also the certificate request to upload to the console (certificate mode)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / PRIVATE_KEY_FILENAME
    public_path = out_dir / PUBLIC_KEY_FILENAME
    csr_path = out_dir / CSR_FILENAME if csr_subject is not None else None
    if not overwrite:
        for existing in (private_path, public_path, csr_path):
            if existing is not None and existing.exists():
                raise FileExistsError(f"{existing} already exists (refusing to replace a key in use)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    # Created with 0600 so the key is never readable by others, not even for an instant.
    fd = os.open(private_path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
    os.chmod(private_path, 0o600)
    public = key.public_key()
    public_path.write_bytes(public_key_pem(public))
    if csr_path is not None and csr_subject is not None:
        csr_path.write_bytes(certificate_request_pem(key, csr_subject))
    return GeneratedKeyPair(private_path, public_path, one_line_public_key(public), csr_path)
