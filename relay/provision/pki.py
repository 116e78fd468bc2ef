"""A private CA and the broker's certificate, for a pilot chain without its own PKI. Pure: the clock is an
argument and nothing is written (`relay.provision.broker_files` writes the files).

The CA signs one thing, the broker's TLS certificate; the tills and the relay trust it through their
`ca_file` only (never the system's store), so it vouches for nothing else on those machines.

    ca = make_ca("acme", now)
    cert = broker_certificate(ca, parse_hosts(["broker.acme.example", "10.0.0.5"]), now)
    pem_certificate(cert.certificate), pem_private_key(cert.key)
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# P-256: what every TLS stack the fleet link meets (OpenSSL in Mosquitto, Python's ssl, EMQX, cloud brokers) takes.
_CURVE = ec.SECP256R1()
CA_DAYS = 3650  # the CA outlives many broker certificates: replacing it means new bundles for every till
BROKER_DAYS = 825  # the longest TLS server certificate lifetime clients still commonly accept
RENEW_DAYS = 30  # a broker certificate closer than this to its end is issued again
# A DNS name (labels of letters, digits and inner hyphens), optionally a leading wildcard label.
_DNS = re.compile(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
                  re.ASCII)  # fmt: skip


class PkiError(ValueError):
    pass


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def parse_hosts(hosts: list[str]) -> list[x509.GeneralName]:
    """The broker's names as the tills and the relay reach it: DNS names or IP addresses (PkiError otherwise)."""
    if not hosts:
        raise PkiError("the broker certificate needs at least one name: --host broker.example.com (or an address)")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        if len(host) > 253 or not _DNS.fullmatch(host):
            raise PkiError(f"--host {host!r:.60}: not a DNS name or an IP address")
        names.append(x509.DNSName(host.lower()))
    return list(dict.fromkeys(names))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def _usage(*, signs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, key_cert_sign=signs, crl_sign=signs, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                         decipher_only=False)  # fmt: skip


def make_ca(label: str, now: datetime.datetime, *, days: int = CA_DAYS) -> Issued:
    """A self-signed CA that may sign server certificates only (no intermediate CAs below it)."""
    key = ec.generate_private_key(_CURVE)
    name = _name(f"POS Agent fleet CA ({label})")
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return Issued(key, certificate)


def broker_certificate(ca: Issued, names: list[x509.GeneralName], now: datetime.datetime, *,
                       days: int = BROKER_DAYS) -> Issued:  # fmt: skip
    """The broker's TLS server certificate for `names` (from parse_hosts), signed by `ca`."""
    key = ec.generate_private_key(_CURVE)
    first = names[0].value
    certificate = (
        x509.CertificateBuilder().subject_name(_name(str(first))).issuer_name(ca.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )  # fmt: skip
    return Issued(key, certificate)


def still_fits(certificate: x509.Certificate, ca: x509.Certificate, names: list[x509.GeneralName],
               now: datetime.datetime) -> bool:  # fmt: skip
    """Whether a broker certificate already made can stay: signed by `ca`, for exactly `names`, and not
    within RENEW_DAYS of its end (running the command again then changes nothing)."""
    if certificate.issuer != ca.subject:
        return False
    try:
        certificate.verify_directly_issued_by(ca)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    if set(san) != set(names):
        return False
    return certificate.not_valid_after_utc - now > datetime.timedelta(days=RENEW_DAYS)


# --- PEM ----------------------------------------------------------------------------------------------


def pem_certificate(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def pem_private_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def load_issued(key_pem: bytes, certificate_pem: bytes) -> Issued:
    """A CA (or certificate) read back from its PEM files; PkiError when they are not a pair this module makes."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"not a PEM key and certificate ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
        raise PkiError("the private key does not belong to the certificate")
    return Issued(key, certificate)


def names_text(names: list[x509.GeneralName]) -> str:
    return ", ".join(str(name.value) for name in names)
