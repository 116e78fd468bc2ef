"""Certificate-mode arithmetic and issuance, pure functions over `cryptography` objects (no files, no clock).

Serial numbers the way the real SDKs compute them (reference §1.7): lower-case hex MD5 of
(issuer DN + decimal serial number), left-padded to 32 hex digits. The issuer DN is Java's
`getIssuerX500Principal().getName()` (RFC 2253: most specific RDN first, `CN=...,OU=...,O=...,C=...`).
`Name.rfc4514_string()` prints the same text for the attributes Alipay's CAs use (CN, OU, O, C, L, ST),
checked against a real Alipay-issued certificate whose SN is known from the official Node SDK's tests;
this CA only ever puts those attributes in issuer names, so the two renderings cannot diverge here."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

RSA_SIGNATURE_FAMILY = "1.2.840.113549.1.1."  # sha256WithRSAEncryption & co.: the roots that count
CA_LIFETIME = datetime.timedelta(days=365 * 20)
LEAF_LIFETIME = datetime.timedelta(days=365 * 5)
BACKDATE = datetime.timedelta(days=1)  # leaves are valid from yesterday: clients with a slow clock still accept them
MIN_APP_KEY_BITS = 2048

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CsrError(ValueError):
    """The CSR is not a signed PKCS#10 request for an RSA key of at least 2048 bits."""


def cert_sn(cert: x509.Certificate) -> str:
    issuer = cert.issuer.rfc4514_string()
    return hashlib.md5((issuer + str(cert.serial_number)).encode("utf-8")).hexdigest().rjust(32, "0")  # noqa: S324


def root_cert_sn(bundle: Iterable[x509.Certificate]) -> str:
    """`alipay_root_cert_sn`: the SNs of the RSA-signed certificates of the bundle, in file order, `_`-joined."""
    return "_".join(
        cert_sn(cert) for cert in bundle if cert.signature_algorithm_oid.dotted_string.startswith(RSA_SIGNATURE_FAMILY)
    )


def load_chain(data: str | bytes) -> list[x509.Certificate]:
    raw = data.encode() if isinstance(data, str) else data
    return x509.load_pem_x509_certificates(raw)


def chain_pem(certs: Sequence[x509.Certificate]) -> str:
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs)


def parse_csr(text: str | bytes) -> x509.CertificateSigningRequest:
    raw = (text.encode() if isinstance(text, str) else text).strip()
    try:
        csr = x509.load_pem_x509_csr(raw) if raw.startswith(b"-----BEGIN") else x509.load_der_x509_csr(raw)
    except ValueError:
        raise CsrError("not a PEM (or DER) certificate signing request") from None
    if not csr.is_signature_valid:
        raise CsrError("the CSR's signature does not verify (it must be signed with the app private key)")
    key = csr.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_APP_KEY_BITS:
        raise CsrError(f"the CSR must carry an RSA public key of at least {MIN_APP_KEY_BITS} bits")
    return csr


def dn(common_name: str, unit: str, organization: str) -> x509.Name:
    # ASN.1 order C, O, OU, CN: rendered most-specific-first as CN=...,OU=...,O=...,C=CN like Alipay's.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class Issuer:
    """A CA that signs: its certificate and private key."""

    cert: x509.Certificate
    key: PrivateKey


def self_signed_root(name: x509.Name, key: PrivateKey, now: datetime.datetime) -> x509.Certificate:
    algorithm = hashes.SHA384() if isinstance(key, ec.EllipticCurvePrivateKey) else hashes.SHA256()
    return _builder(name, name, key.public_key(), now, CA_LIFETIME, ca=True).sign(key, algorithm)


def issue(
    issuer: Issuer,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    now: datetime.datetime,
    *,
    ca: bool = False,
    lifetime: datetime.timedelta = LEAF_LIFETIME,
) -> x509.Certificate:
    builder = _builder(subject, issuer.cert.subject, public_key, now, lifetime, ca=ca)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
        critical=False,
    )
    return builder.sign(issuer.key, hashes.SHA256())


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    now: datetime.datetime,
    lifetime: datetime.timedelta,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    usage = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=True, content_commitment=True)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
