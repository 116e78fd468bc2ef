"""A small certificate authority for certificate-mode tests, built with `cryptography` alone.

Like Alipay's: a root bundle with an RSA root and an EC root; an RSA intermediate CA under the RSA root
that issues the Alipay public-key certificate (the file holds the leaf and the intermediate) and the app
certificate, from the app's CSR as the console does. Nothing here uses the agent's code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.now(UTC)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@cache
def rsa_key(label: str) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per label for the whole test session (generation is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn: str, ou: str = "Certification Authority", o: str = "Test Ant Financial", c: str = "CN") -> x509.Name:
    # Written C, O, OU, CN in the DER like Alipay's; Java renders it CN first.
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, c), x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # fmt: skip


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: PrivateKey

    def issue(
        self,
        subject: x509.Name,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        *,
        ca: bool = False,
        serial: int | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        return _build(subject, self.cert.subject, public_key, self.key, ca=ca, serial=serial,
                      not_before=not_before, not_after=not_after)  # fmt: skip


def _build(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    signer: PrivateKey,
    *,
    ca: bool,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signer, hashes.SHA256())


def self_signed(subject: x509.Name, key: PrivateKey, *, ca: bool = True, **dates: datetime) -> Authority:
    return Authority(_build(subject, subject, key.public_key(), key, ca=ca, **dates), key)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


@dataclass(frozen=True)
class Pki:
    rsa_root: Authority
    ec_root: Authority
    intermediate: Authority

    @property
    def root_bundle(self) -> bytes:
        return pem(self.rsa_root.cert, self.ec_root.cert)

    def alipay_cert(self, key: rsa.RSAPrivateKey, **kwargs: datetime | int) -> bytes:
        """An Alipay public-key certificate file: the leaf, then the intermediate that issued it."""
        leaf = self.intermediate.issue(name("Alipay OpenAPI", ou="Alipay", o="Test Alipay"), key.public_key(),
                                       **kwargs)  # type: ignore[arg-type]  # fmt: skip
        return pem(leaf, self.intermediate.cert)

    def app_cert_from_csr(self, csr_pem: bytes) -> bytes:
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        public = csr.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        return pem(self.intermediate.issue(csr.subject, public))

    def app_cert(self, key: rsa.RSAPrivateKey) -> bytes:
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(name("2021000000000001", ou="Apps", o="Test merchant"))
            .sign(key, hashes.SHA256())
        )
        return self.app_cert_from_csr(csr.public_bytes(serialization.Encoding.PEM))


def new_pki(label: str = "alipay") -> Pki:
    rsa_root = self_signed(name(f"{label} Root CA R1"), rsa_key(f"{label}-rsa-root"))
    ec_root = self_signed(name(f"{label} Root CA E1"), ec.generate_private_key(ec.SECP256R1()))
    inter_key = rsa_key(f"{label}-intermediate")
    intermediate = Authority(rsa_root.issue(name(f"{label} Class 2 R1"), inter_key.public_key(), ca=True),
                             inter_key)  # fmt: skip
    return Pki(rsa_root, ec_root, intermediate)


# --- independent serial numbers (the test's own computation, from cryptography's parsed names) ----------

_SHORT = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.ORGANIZATION_NAME: "O",
          NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L", NameOID.STATE_OR_PROVINCE_NAME: "ST"}  # fmt: skip


def expected_sn(cert: x509.Certificate) -> str:
    """MD5 of 'CN=..,OU=..,O=..,C=..' + decimal serial, for names of plain values (no escaping needed)."""
    issuer = ",".join(
        "+".join(f"{_SHORT[attr.oid]}={attr.value!s}" for attr in rdn) for rdn in reversed(cert.issuer.rdns)
    )
    return hashlib.md5(f"{issuer}{cert.serial_number}".encode(), usedforsecurity=False).hexdigest()


def expected_root_sn(bundle: Sequence[x509.Certificate]) -> str:
    rsa_oids = {"1.2.840.113549.1.1.11", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.12"}
    return "_".join(expected_sn(c) for c in bundle if c.signature_algorithm_oid.dotted_string in rsa_oids)
