"""Certificate mode without I/O: the two SNs Alipay computes, and which Alipay certificates are trusted."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from agent.alipay.certs import (
    CertificateError,
    build_cert_mode,
    cert_sn,
    java_rfc2253_name,
    root_cert_sn,
    trust_alipay_cert,
)
from tests.support.certs import (
    NOW,
    Authority,
    Pki,
    expected_root_sn,
    expected_sn,
    name,
    new_pki,
    pem,
    rsa_key,
    self_signed,
)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


def test_both_serial_numbers_match_an_independent_computation_byte_for_byte(pki: Pki) -> None:
    app_key, alipay_key = rsa_key("app"), rsa_key("alipay-1")
    app_pem, alipay_pem = pki.app_cert(app_key), pki.alipay_cert(alipay_key)
    mode = build_cert_mode(app_pem, alipay_pem, pki.root_bundle, app_key.public_key(), now=NOW)
    app_cert = x509.load_pem_x509_certificates(app_pem)[0]
    bundle = x509.load_pem_x509_certificates(pki.root_bundle)
    assert mode.app_cert_sn == expected_sn(app_cert)
    assert len(mode.app_cert_sn) == 32
    # Only the RSA root counts: the EC root of the bundle is left out, so there is no `_` here.
    assert mode.alipay_root_cert_sn == expected_root_sn(bundle) == expected_sn(pki.rsa_root.cert)
    assert mode.alipay_certs[0].sn == expected_sn(x509.load_pem_x509_certificates(alipay_pem)[0])


def test_root_sn_joins_every_rsa_root_in_file_order_with_underscores(pki: Pki) -> None:
    other = new_pki("other")
    bundle = [pki.rsa_root.cert, pki.ec_root.cert, other.rsa_root.cert]
    assert root_cert_sn(bundle) == f"{expected_sn(pki.rsa_root.cert)}_{expected_sn(other.rsa_root.cert)}"
    with pytest.raises(CertificateError, match="no RSA certificate"):
        root_cert_sn([pki.ec_root.cert])


def test_issuer_is_rendered_as_javas_rfc2253_name_including_oid_attributes() -> None:
    # Java's own output for this issuer, from a public JDK-based test (emailAddress has no RFC 2253 keyword).
    issuer = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "AT"), x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Salzburg"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Saalfelden"), x509.NameAttribute(NameOID.ORGANIZATION_NAME,
        "Red Hat Inc."), x509.NameAttribute(NameOID.COMMON_NAME, "test.example.com"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "jerboaa@redhat.com"),
    ])  # fmt: skip
    assert java_rfc2253_name(issuer.public_bytes()) == (
        "1.2.840.113549.1.9.1=#16126a6572626f6161407265646861742e636f6d,"
        "CN=test.example.com,O=Red Hat Inc.,L=Saalfelden,ST=Salzburg,C=AT"
    )


def test_special_characters_are_escaped_as_java_does_not_as_rfc4514() -> None:
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "A=B, Inc. #1"),
                        x509.NameAttribute(NameOID.COMMON_NAME, " #lead ")])  # fmt: skip
    # Java escapes '=' and '#' everywhere; RFC 4514 (cryptography) would not escape them mid-value.
    assert java_rfc2253_name(issuer.public_bytes()) == "CN=\\ \\#lead\\ ,O=A\\=B\\, Inc. \\#1"
    assert issuer.rfc4514_string() != java_rfc2253_name(issuer.public_bytes())


def test_sn_hashes_the_decimal_serial(pki: Pki) -> None:
    cert = pki.intermediate.issue(name("leaf"), rsa_key("alipay-1").public_key(), serial=0x1F)
    issuer = "CN=alipay Class 2 R1,OU=Certification Authority,O=Test Ant Financial,C=CN"
    assert cert_sn(cert) == hashlib.md5(f"{issuer}31".encode(), usedforsecurity=False).hexdigest()


def test_an_alipay_certificate_from_the_configured_roots_is_trusted(pki: Pki) -> None:
    trusted = trust_alipay_cert(pki.alipay_cert(rsa_key("alipay-1")), x509.load_pem_x509_certificates(pki.root_bundle),
                                NOW)  # fmt: skip
    assert trusted.public_key.public_numbers() == rsa_key("alipay-1").public_key().public_numbers()


@pytest.mark.parametrize(
    "forgery",
    ["self-signed", "another root", "signed by an app certificate", "expired", "not yet valid",
     "without its intermediate", "expired intermediate"],
)  # fmt: skip
def test_forged_or_stale_alipay_certificates_are_refused(pki: Pki, forgery: str) -> None:
    key = rsa_key("alipay-2")
    roots = x509.load_pem_x509_certificates(pki.root_bundle)
    if forgery == "self-signed":
        data = pem(self_signed(name("Alipay OpenAPI", ou="Alipay", o="Test Alipay"), key, ca=False).cert)
    elif forgery == "another root":
        data = new_pki("attacker").alipay_cert(key)
    elif forgery == "signed by an app certificate":
        # A merchant's app certificate chains to Alipay's root too, but it is no CA: it cannot vouch.
        app_key = rsa_key("app")
        app_cert = x509.load_pem_x509_certificates(pki.app_cert(app_key))[0]
        leaf = Authority(app_cert, app_key).issue(name("Alipay OpenAPI"), key.public_key())
        data = pem(leaf, app_cert, pki.intermediate.cert)
    elif forgery == "expired":
        data = pki.alipay_cert(key, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    elif forgery == "not yet valid":
        data = pki.alipay_cert(key, not_before=NOW + timedelta(days=1))
    elif forgery == "without its intermediate":
        data = pem(x509.load_pem_x509_certificates(pki.alipay_cert(key))[0])
    else:
        old_inter = pki.rsa_root.issue(pki.intermediate.cert.subject, pki.intermediate.key.public_key(), ca=True,
                                       not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))  # fmt: skip
        leaf = x509.load_pem_x509_certificates(pki.alipay_cert(key))[0]
        data = pem(leaf, old_inter)
    with pytest.raises(CertificateError):
        trust_alipay_cert(data, roots, NOW)


def test_mixed_up_files_are_named(pki: Pki) -> None:
    app_key = rsa_key("app")
    app_pem, alipay_pem = pki.app_cert(app_key), pki.alipay_cert(rsa_key("alipay-1"))
    public = app_key.public_key()
    with pytest.raises(CertificateError, match="it is the app certificate"):
        build_cert_mode(app_pem, app_pem, pki.root_bundle, public, now=NOW)
    with pytest.raises(CertificateError, match="does not match the app private key"):
        build_cert_mode(alipay_pem, alipay_pem, pki.root_bundle, public, now=NOW)
    with pytest.raises(CertificateError, match="does not chain"):
        build_cert_mode(app_pem, alipay_pem, new_pki("other").root_bundle, public, now=NOW)
    with pytest.raises(CertificateError, match="no RSA certificate"):
        build_cert_mode(app_pem, alipay_pem, pem(pki.ec_root.cert), public, now=NOW)
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        build_cert_mode(app_pem, b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", pki.root_bundle, public, now=NOW)


@pytest.mark.parametrize("given", ["Alipay's certificate file", "the app's certificate and the roots"])
def test_a_root_bundle_holding_anything_but_roots_is_refused(pki: Pki, given: str) -> None:
    # Alipay's file (leaf + intermediate) would "chain" (the intermediate is a CA), and the root SN sent
    # would be wrong: every call refused by Alipay, long after `config check` said OK.
    app_key = rsa_key("app")
    app_pem, alipay_pem = pki.app_cert(app_key), pki.alipay_cert(rsa_key("alipay-1"))
    bundle = alipay_pem if given == "Alipay's certificate file" else app_pem + pki.root_bundle
    with pytest.raises(CertificateError, match="root certificate bundle holds a certificate that is not a root"):
        build_cert_mode(app_pem, alipay_pem, bundle, app_key.public_key(), now=NOW)


def test_an_ec_root_can_anchor_a_chain_though_it_has_no_sn(pki: Pki) -> None:
    key = rsa_key("alipay-3")
    leaf = pki.ec_root.issue(name("Alipay OpenAPI EC-anchored"), key.public_key())
    roots = x509.load_pem_x509_certificates(pki.root_bundle)
    assert trust_alipay_cert(pem(leaf), roots, NOW).sn == expected_sn(leaf)
    assert isinstance(pki.ec_root.key, ec.EllipticCurvePrivateKey)


def test_stored_certificates_join_the_trusted_set_and_stale_ones_are_dropped(pki: Pki) -> None:
    app_key = rsa_key("app")
    configured, newer = pki.alipay_cert(rsa_key("alipay-1")), pki.alipay_cert(rsa_key("alipay-2"))
    expired = pki.alipay_cert(
        rsa_key("alipay-3"), not_before=NOW - timedelta(days=9), not_after=NOW - timedelta(days=1)
    )
    mode = build_cert_mode(pki.app_cert(app_key), configured, pki.root_bundle, app_key.public_key(), now=NOW,
                           stored_alipay_certs=[newer, expired, configured])  # fmt: skip
    assert [c.sn for c in mode.alipay_certs] == [expected_sn(x509.load_pem_x509_certificates(d)[0])
                                                 for d in (configured, newer)]  # fmt: skip


def expired_alipay_cert(pki: Pki, label: str = "alipay-1") -> bytes:
    return pki.alipay_cert(rsa_key(label), not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))


def test_an_expired_configured_certificate_gives_way_to_a_rotated_one_kept_since(pki: Pki) -> None:
    app_key = rsa_key("app")
    rotated, stale = pki.alipay_cert(rsa_key("alipay-2")), expired_alipay_cert(pki, "alipay-3")
    older = pki.alipay_cert(rsa_key("alipay-4"), not_before=NOW - timedelta(days=60))  # rotated to before
    mode = build_cert_mode(pki.app_cert(app_key), expired_alipay_cert(pki), pki.root_bundle, app_key.public_key(),
                           now=NOW, stored_alipay_certs=[older, stale, rotated])  # fmt: skip
    assert [c.sn for c in mode.alipay_certs] == [expected_sn(x509.load_pem_x509_certificates(data)[0])
                                                 for data in (rotated, older)]  # newest first  # fmt: skip
    assert mode.configured_alipay_cert_expired is not None and mode.configured_alipay_cert_expired < NOW
    notice = mode.stand_in_notice()
    assert notice and "expired on" in notice and mode.alipay_certs[0].sn in notice
    assert [key for key, _, _ in mode.expiring(NOW, timedelta(days=30))] == []  # the rotated one is in date


@pytest.mark.parametrize("configured", ["expired, nothing kept", "expired, from another root",
                                        "expired, the app's own", "not yet valid"])  # fmt: skip
def test_only_an_expired_genuine_certificate_gives_way_and_only_to_a_valid_kept_one(pki: Pki, configured: str) -> None:
    app_key = rsa_key("app")
    stored = [pki.alipay_cert(rsa_key("alipay-2"))]
    if configured == "expired, nothing kept":
        data, stored = expired_alipay_cert(pki), [expired_alipay_cert(pki, "alipay-3")]
    elif configured == "expired, from another root":
        data = expired_alipay_cert(new_pki("attacker"))
    elif configured == "expired, the app's own":
        data = pki.alipay_cert(app_key, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    else:
        data = pki.alipay_cert(rsa_key("alipay-1"), not_before=NOW + timedelta(days=1))
    with pytest.raises(CertificateError):
        build_cert_mode(pki.app_cert(app_key), data, pki.root_bundle, app_key.public_key(), now=NOW,
                        stored_alipay_certs=stored)  # fmt: skip


def test_the_issuer_string_types_are_read_as_java_reads_them(pki: Pki) -> None:
    # cryptography writes the T61String "Café" as the UTF-8 bytes 43 61 66 c3 a9; Java decodes a T61String
    # as Latin-1, so its name (and the SN) holds "CafÃ©". The '+' of the PrintableString is escaped.
    issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Caf\xe9", _type=_ASN1Type.T61String),
                        x509.NameAttribute(NameOID.COMMON_NAME, "A+B", _type=_ASN1Type.PrintableString)])  # fmt: skip
    signer = Authority(pki.rsa_root.cert, pki.rsa_root.key)
    cert = (
        x509.CertificateBuilder().subject_name(name("leaf")).issuer_name(issuer)
        .public_key(rsa_key("alipay-1").public_key()).serial_number(12345)
        .not_valid_before(NOW).not_valid_after(NOW + timedelta(days=1))
        .sign(signer.key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    expected = hashlib.md5("CN=A\\+B,O=Caf\xc3\xa9,C=CN12345".encode(), usedforsecurity=False).hexdigest()
    assert cert_sn(cert) == expected


def test_a_downloaded_file_with_too_many_certificates_is_refused(pki: Pki) -> None:
    data = pki.alipay_cert(rsa_key("alipay-1")) * 5
    with pytest.raises(CertificateError, match="certificates"):
        trust_alipay_cert(data, x509.load_pem_x509_certificates(pki.root_bundle), NOW)
