"""Certificate mode without I/O: serial numbers as Alipay computes them, and whom to trust.

Alipay identifies a certificate by its "SN": the lower-case hex MD5 of the issuer's distinguished name,
as Java's ``X509Certificate.getIssuerX500Principal().getName()`` renders it (RFC 2253), followed by the
serial number in decimal. The root SN is the SNs of the RSA-family certificates of the root bundle
joined with ``_``. A certificate of Alipay's is trusted only when it chains to the configured root
bundle and every certificate of the chain is within its validity at ``now`` (given by the caller).

The issuer name is rendered from its DER bytes, not from ``cryptography``'s ``rfc4514_string()``:
Java also escapes ``=`` and ``#`` anywhere in a value and writes attributes without an RFC 2253
keyword (emailAddress, serialNumber...) as ``OID=#<DER hex>``, where RFC 4514 writes text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

RSA_FAMILY_OID_PREFIX = "1.2.840.113549.1.1"  # sha256WithRSAEncryption and its siblings
MAX_CHAIN = 8  # certificates in one Alipay certificate file (Alipay's holds two)

# Java's RFC 2253 keywords (sun.security.x509.AVAKeyword); other attributes are written as OIDs.
_RFC2253_KEYWORDS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET",
    "2.5.4.10": "O", "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}  # fmt: skip
# DER string tags Java renders as text, with the charset it decodes them with.
_TEXT_TAGS = {12: "utf-8", 19: "latin-1", 20: "latin-1", 22: "latin-1", 27: "latin-1", 30: "utf-16-be"}
_ESCAPED = set(',=+<>#;"\\')


class CertificateError(ValueError):
    """A certificate cannot be used or trusted. The message says which and why, never key material."""


# --- Java's RFC 2253 rendering of a DER Name -------------------------------------------------------------


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of element) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise CertificateError("truncated DER name")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("bad DER length in a name")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertificateError("truncated DER name")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, element end) of each element in data[start:end]."""
    out: list[tuple[int, int, int, int]] = []
    pos = start
    while pos < end:
        tag, content, stop = _read_tlv(data, pos)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def _oid_text(content: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise CertificateError("empty OID in a name")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _escape_value(text: str) -> str:
    chars = ["\\00" if c == "\0" else "\\" + c if c in _ESCAPED else c for c in text]
    lead = 0
    while lead < len(chars) and chars[lead] in (" ", "\r"):
        lead += 1
    trail = len(chars) - 1
    while trail >= 0 and chars[trail] in (" ", "\r"):
        trail -= 1
    return "".join("\\" + c if i < lead or i > trail else c for i, c in enumerate(chars))


def java_rfc2253_name(name_der: bytes) -> str:
    """`X500Principal.getName()` (RFC 2253) of a DER-encoded Name: last RDN first, `+` inside an RDN."""
    tag, start, end = _read_tlv(name_der, 0)
    if tag != 0x30:
        raise CertificateError("a name is not a DER SEQUENCE")
    rdns: list[str] = []
    for rdn_tag, _, rdn_start, rdn_end in _children(name_der, start, end):
        if rdn_tag != 0x31:
            raise CertificateError("a name component is not a SET")
        parts: list[str] = []
        for atv_tag, _, atv_start, atv_end in _children(name_der, rdn_start, rdn_end):
            fields = _children(name_der, atv_start, atv_end) if atv_tag == 0x30 else []
            if len(fields) != 2 or fields[0][0] != 0x06:
                raise CertificateError("a name attribute is not (OID, value)")
            oid = _oid_text(name_der[fields[0][2] : fields[0][3]])
            value_tag, value_start, value_content, value_end = fields[1]
            keyword = _RFC2253_KEYWORDS.get(oid)
            charset = _TEXT_TAGS.get(value_tag)
            if keyword is None or charset is None:
                parts.append(f"{keyword or oid}=#{name_der[value_start:value_end].hex()}")
            else:
                text = name_der[value_content:value_end].decode(charset, "replace")
                parts.append(f"{keyword}={_escape_value(text)}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


# --- serial numbers -----------------------------------------------------------------------------------------


def issuer_der(cert: x509.Certificate) -> bytes:
    """The issuer Name exactly as encoded in the certificate (string types and order as signed), which is
    what Java renders; `cert.issuer.public_bytes()` would be a re-encoding."""
    tbs = cert.tbs_certificate_bytes
    tag, start, end = _read_tlv(tbs, 0)
    fields = _children(tbs, start, end) if tag == 0x30 else []
    if fields and fields[0][0] == 0xA0:  # [0] version, absent in v1 certificates
        fields = fields[1:]
    if len(fields) < 3 or fields[2][0] != 0x30:
        raise CertificateError("a certificate without an issuer name")
    _, element_start, _, element_end = fields[2]  # serialNumber, signature, issuer
    return tbs[element_start:element_end]


def cert_sn(cert: x509.Certificate) -> str:
    """Alipay's SN of a certificate: MD5(issuer DN as Java renders it + decimal serial), 32 hex digits."""
    issuer = java_rfc2253_name(issuer_der(cert))
    digest = hashlib.md5((issuer + str(cert.serial_number)).encode("utf-8"), usedforsecurity=False)
    return digest.hexdigest().rjust(32, "0")  # Java pads BigInteger.toString(16); hexdigest is always 32


def is_rsa_family(cert: x509.Certificate) -> bool:
    return cert.signature_algorithm_oid.dotted_string.startswith(RSA_FAMILY_OID_PREFIX)


def root_cert_sn(roots: Sequence[x509.Certificate]) -> str:
    """`alipay_root_cert_sn`: the SNs of the bundle's RSA-family certificates, in file order, joined by `_`."""
    sns = [cert_sn(cert) for cert in roots if is_rsa_family(cert)]
    if not sns:
        raise CertificateError("the Alipay root certificate bundle holds no RSA certificate (it is not Alipay's)")
    return "_".join(sns)


# --- parsing ------------------------------------------------------------------------------------------------


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file (one or a bundle); a clear error for anything else."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CertificateError(f"the {what} is not a PEM certificate file (no BEGIN CERTIFICATE)")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"the {what} holds a certificate that cannot be read") from None
    return certs


def certificate_pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def rsa_public_key(cert: x509.Certificate, what: str) -> rsa.RSAPublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError(f"the {what}'s public key cannot be read") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError(f"the {what} does not hold an RSA key (RSA2 needs one)")
    return key


def same_public_key(cert: x509.Certificate, key: rsa.RSAPublicKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_bytes(der, spki)


# --- trust --------------------------------------------------------------------------------------------------


def _check_validity(cert: x509.Certificate, now: datetime, what: str) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateError(f"the {what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > cert.not_valid_after_utc:
        raise CertificateError(f"the {what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def _is_ca(cert: x509.Certificate, *, required: bool) -> bool:
    """A certificate may sign others only if it says it is a CA (else any app certificate Alipay issued
    to any merchant could sign a forged Alipay certificate). A v1 root without the extension passes."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return not required
    return constraints.ca


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def leaf_of(chain: Sequence[x509.Certificate]) -> x509.Certificate:
    """The end certificate of a file holding a chain: the one no other certificate of the file issued."""
    issuers = {cert.issuer for cert in chain}
    leaves = [cert for cert in chain if cert.subject not in issuers or len(chain) == 1]
    if len(leaves) != 1:
        raise CertificateError("the Alipay certificate file holds certificates that do not form one chain")
    return leaves[0]


def verify_chain(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime, what: str
) -> x509.Certificate:
    """The chain's leaf, once each link is signed by the next (intermediates from the same file, which must
    be CAs) up to a certificate of the root bundle, and each certificate used is within its validity."""
    if not chain:
        raise CertificateError(f"the {what} holds no certificate")
    leaf = leaf_of(chain)
    if _is_ca(leaf, required=True):  # a root or an intermediate given where the end certificate belongs
        raise CertificateError(f"the {what} is a CA certificate (a root or intermediate), not the one that signs")
    current = leaf
    _check_validity(current, now, what)
    intermediates = [cert for cert in chain if cert is not leaf]
    for _ in range(len(chain) + 1):
        for root in roots:
            if _signed_by(current, root) and _is_ca(root, required=False):
                where = f"root {root.subject.rfc4514_string()} of the Alipay root certificate bundle"
                _check_validity(root, now, where)
                return leaf
        parent = next((c for c in intermediates if _signed_by(current, c) and _is_ca(c, required=True)), None)
        if parent is None:
            break
        _check_validity(parent, now, f"{what}'s intermediate certificate")
        intermediates.remove(parent)
        current = parent
    raise CertificateError(f"the {what} does not chain to the configured Alipay root certificates")


@dataclass(frozen=True)
class AlipayCert:
    """An Alipay public-key certificate that was checked against the root bundle: its SN and key."""

    sn: str
    leaf: x509.Certificate
    pem: bytes  # the whole file (leaf and intermediates), as stored for next time
    public_key: rsa.RSAPublicKey

    @property
    def not_after(self) -> datetime:
        return self.leaf.not_valid_after_utc

    def valid_at(self, now: datetime) -> bool:
        return self.leaf.not_valid_before_utc <= now <= self.leaf.not_valid_after_utc


def trust_alipay_cert(
    data: bytes, roots: Sequence[x509.Certificate], now: datetime, what: str = "Alipay public-key certificate"
) -> AlipayCert:
    """Parse, chain and date-check an Alipay public-key certificate (file or downloaded content)."""
    chain = load_certificates(data, what)
    if len(chain) > MAX_CHAIN:  # each link costs signature checks: a hostile download must not cost more
        raise CertificateError(f"the {what} holds {len(chain)} certificates (a chain has a few)")
    leaf = verify_chain(chain, roots, now, what)
    return AlipayCert(cert_sn(leaf), leaf, certificate_pem(chain), rsa_public_key(leaf, what))


@dataclass(frozen=True)
class CertMode:
    """What certificate mode adds to the credentials: the two request SNs, the roots, the trusted certs."""

    EXPIRY_WARNING = timedelta(days=30)  # `config check` and the doctor warn this long before an end

    app_cert_sn: str
    alipay_root_cert_sn: str
    roots: tuple[x509.Certificate, ...]
    alipay_certs: tuple[AlipayCert, ...]  # the configured one first, then those downloaded since
    app_cert: x509.Certificate
    # Set when the configured Alipay certificate has expired and one Alipay rotated to since (kept in the
    # state dir) stands in for it: when it ended. `alipay_certs` then holds only the stored ones.
    configured_alipay_cert_expired: datetime | None = None

    def expiring(self, now: datetime, within: timedelta) -> list[tuple[str, str, datetime]]:
        """(setting, what, end) of each configured certificate that ends within `within` of `now`."""
        in_use = [("app_cert_file", "app public-key certificate", self.app_cert)]
        if self.configured_alipay_cert_expired is None:  # else a rotated one is in use: nothing to renew
            in_use.append(("alipay_cert_file", "Alipay public-key certificate", self.alipay_certs[0].leaf))
        in_use += [("alipay_root_cert_file", f"Alipay root {root.subject.rfc4514_string()}", root)
                   for root in self.roots]  # fmt: skip
        return [(key, what, c.not_valid_after_utc) for key, what, c in in_use if c.not_valid_after_utc - now < within]

    def stand_in_notice(self) -> str | None:
        """What to tell the technician when a rotated certificate stands in for the expired configured one."""
        if self.configured_alipay_cert_expired is None:
            return None
        return (f"the Alipay public-key certificate expired on {self.configured_alipay_cert_expired:%Y-%m-%d}; "
                f"Alipay's newer certificate {self.alipay_certs[0].sn}, kept in state_dir/alipay_certs since its "
                "rotation, is used instead")  # fmt: skip

    def __repr__(self) -> str:
        return f"CertMode(app_cert_sn={self.app_cert_sn!r}, alipay_certs={[c.sn for c in self.alipay_certs]!r})"


def build_cert_mode(
    app_cert_pem: bytes,
    alipay_cert_pem: bytes,
    root_bundle_pem: bytes,
    app_public_key: rsa.RSAPublicKey,
    *,
    now: datetime,
    stored_alipay_certs: Sequence[bytes] = (),
) -> CertMode:
    """Check the three files the Alipay console gives (and certificates downloaded before) together.

    Raises CertificateError naming the file at fault: a file that is not a certificate, a root bundle
    without Alipay's RSA root, an Alipay certificate that does not chain or is out of date, the app
    certificate given where Alipay's belongs or one that does not match the app private key."""
    roots = tuple(load_certificates(root_bundle_pem, "Alipay root certificate bundle"))
    if any(cert.subject != cert.issuer for cert in roots):
        # Else Alipay's own certificate file (leaf + intermediate) given here would "chain" and pass,
        # and every call would then fail at Alipay on the wrong alipay_root_cert_sn.
        raise CertificateError("the Alipay root certificate bundle holds a certificate that is not a root (it "
                               "is issued by another): it is not alipayRootCert.crt")  # fmt: skip
    root_sn = root_cert_sn(roots)
    app_chain = load_certificates(app_cert_pem, "app public-key certificate")
    app_leaf = leaf_of(app_chain)
    if not same_public_key(app_leaf, app_public_key):
        raise CertificateError("the app public-key certificate does not match the app private key "
                               "(it was issued for another key, or it is Alipay's certificate)")  # fmt: skip
    if same_public_key(leaf_of(load_certificates(alipay_cert_pem, "Alipay public-key certificate")), app_public_key):
        raise CertificateError("the Alipay public-key certificate holds the app's own key: "
                               "it is the app certificate, not Alipay's")  # fmt: skip
    configured_expired: datetime | None = None
    refused: CertificateError | None = None
    try:
        trusted = [trust_alipay_cert(alipay_cert_pem, roots, now)]
    except CertificateError as exc:
        # Alipay rotates before its certificate ends, so the configured file may have expired while the
        # one rotated to since is kept in the state dir: then that one is used. Any other fault refuses.
        configured_expired = _merely_expired(alipay_cert_pem, roots, now)
        if configured_expired is None:
            raise
        trusted, refused = [], exc
    for data in stored_alipay_certs:
        try:
            cert = trust_alipay_cert(data, roots, now, "stored Alipay certificate")
        except CertificateError:
            continue  # an expired earlier download: Alipay's current one is downloaded again when needed
        if all(cert.sn != known.sn for known in trusted):
            trusted.append(cert)
    if refused is not None:
        if not trusted:
            raise refused
        trusted.sort(key=lambda cert: cert.leaf.not_valid_before_utc, reverse=True)  # the newest stands in
    return CertMode(cert_sn(app_leaf), root_sn, roots, tuple(trusted), app_leaf, configured_expired)


def _merely_expired(data: bytes, roots: Sequence[x509.Certificate], now: datetime) -> datetime | None:
    """When an Alipay certificate file is refused at `now` only because its leaf has ended: the end
    (it chained, and every link was in date, at that moment). None for any other fault."""
    try:
        leaf = leaf_of(load_certificates(data, "Alipay public-key certificate"))
        end = leaf.not_valid_after_utc
        if now <= end:
            return None
        trust_alipay_cert(data, roots, end)
    except CertificateError:
        return None
    return end
