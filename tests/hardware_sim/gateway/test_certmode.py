"""Certificate mode: the simulator as CA, serial-number checks, `alipay_cert_sn` in replies, the
certificate download and rotation. SNs and chains are checked here with our own code and `cryptography`,
never with the simulator's helpers (except the known-answer test of `cert_sn` itself)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from hardware_sim.gateway import GatewaySimulator
from hardware_sim.gateway.admin import GatewayAdmin
from hardware_sim.gateway.certs import cert_sn

from .conftest import APP_ID, FakeClock
from .oapi import TinyClient, public_pem

CERT_APP = "2021000000000777"

# An app certificate really issued by Alipay, from the official Node SDK's test fixtures
# (alipay/alipay-sdk-nodejs-all test/fixtures/appCertPublicKey_2021001161683774.crt); its test asserts
# the SN below, which every official SDK computes the same way. A public certificate, no key.
REAL_APP_CERT = """-----BEGIN CERTIFICATE-----
MIIEsTCCA5mgAwIBAgIQICAFGGIDnUCQiXuk1RwhJjANBgkqhkiG9w0BAQsFADCBgjELMAkGA1UE
BhMCQ04xFjAUBgNVBAoMDUFudCBGaW5hbmNpYWwxIDAeBgNVBAsMF0NlcnRpZmljYXRpb24gQXV0
aG9yaXR5MTkwNwYDVQQDDDBBbnQgRmluYW5jaWFsIENlcnRpZmljYXRpb24gQXV0aG9yaXR5IENs
YXNzIDEgUjEwHhcNMjAwNTE4MDUyODQ3WhcNMjIwNTE4MDUyODQ3WjB5MQswCQYDVQQGEwJDTjEt
MCsGA1UECgwk5p2t5bee54SV5pet5L+h5oGv5oqA5pyv5pyJ6ZmQ5YWs5Y+4MQ8wDQYDVQQLDAZB
bGlwYXkxKjAoBgNVBAMMITIwODg4MzEyMDQ2NTkyMTctMjAyMTAwMTE2MTY4Mzc3NDCCASIwDQYJ
KoZIhvcNAQEBBQADggEPADCCAQoCggEBAJxb57A3/QC/2oDPcZrqWKPs/2qjVlY/x00s3OWa0Cnh
ftO/4tk33cuVEwaQW7b/KbeyfmZ7p8SoxJ9UBDASDACq4TGgR0hFFIIT1FCjeUe8owXyaQsjbKL/
6woXKHHOAaNCY42d9uKZ0ZAyeyX4gF+eEWVmobkDjUAYi6FdL/zyogbrKrYFibmKbTjuVocvlZN2
2R6CEJHCSnc3lw+Ya9NVe7DDx05B8MUQMPBZe9ZhvQb2D75bniV1i4clv/lezKdWyT//d/dIpGVx
4tt92bMwt//UeFG2jLTWJG6h9bv6RCp4O7NFwE4IVMsJhoFTQKEatBx5wsfbYUC3Ivuo2/MCAwEA
AaOCASkwggElMB8GA1UdIwQYMBaAFHEH4gRhFuTl8mXrMQ/J4PQ8mtWRMB0GA1UdDgQWBBSXl4+T
1U+ja4hCST3DlTQAAKQ/tTBABgNVHSAEOTA3MDUGB2CBHAFuAQEwKjAoBggrBgEFBQcCARYcaHR0
cDovL2NhLmFsaXBheS5jb20vY3BzLnBkZjAOBgNVHQ8BAf8EBAMCBsAwLwYDVR0fBCgwJjAkoCKg
IIYeaHR0cDovL2NhLmFsaXBheS5jb20vY3JsNDEuY3JsMGAGCCsGAQUFBwEBBFQwUjAoBggrBgEF
BQcwAoYcaHR0cDovL2NhLmFsaXBheS5jb20vY2E2LmNlcjAmBggrBgEFBQcwAYYaaHR0cDovL2Nh
LmFsaXBheS5jb206ODM0MC8wDQYJKoZIhvcNAQELBQADggEBALeeTrnXKUYapQ/ig9MB4h9KoP3g
27BVJwOxYaIqWxm6iDvOr/Ju+/8QKygnH6dM3+6+pShCdHsCFaSAQM4gUwxS4F1PcISjKs3LQ6Q8
eWHZMV9w292DOzFRNUoMmgI2yAGOW6DxmnNDFxbVjzcABsrjOmoqso5c4y82K7cl9AfvTm+ThOC3
wPQqTiLOZ6xoSL8pO4V+BkPrJTKJNqX0cVPm+QLP+TC411GTjrmz2nv1OPEVSTey5HaB6HWQeDz7
hGnbipZswfCRHRiu42+4pQZw+3rQ6uRzSPMpxgk7RaBWexybrqRk6ZfyXMcxJvNDWWk/EQlzLL8S
RuJzW8kcFrE=
-----END CERTIFICATE-----
"""

CERT_REPLY = re.compile(rb'\{"([a-z_]+)":(\{.*\}),"alipay_cert_sn":"([0-9a-f]{32})","sign":"([A-Za-z0-9+/=]+)"\}', re.S)


# -- the test's own certificate arithmetic (independent of hardware_sim.gateway.certs) ------------------
def java_issuer(cert: x509.Certificate) -> str:
    """Java's getIssuerX500Principal().getName() for CN/OU/O/C names: most specific first."""
    short = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
             NameOID.ORGANIZATION_NAME: "O", NameOID.COUNTRY_NAME: "C"}  # fmt: skip
    return ",".join(f"{short[attr.oid]}={attr.value!s}" for attr in reversed(list(cert.issuer)))


def sn_of(cert: x509.Certificate) -> str:
    digest = hashlib.md5((java_issuer(cert) + str(cert.serial_number)).encode()).hexdigest()  # noqa: S324
    return f"{int(digest, 16):032x}"  # Java: BigInteger(1, md5).toString(16), left-padded to 32


def root_sn_of(bundle: list[x509.Certificate]) -> str:
    rsa_signed = [c for c in bundle if c.signature_algorithm_oid.dotted_string.startswith("1.2.840.113549.1.1.")]
    return "_".join(sn_of(cert) for cert in rsa_signed)


def csr_for(key: rsa.RSAPrivateKey, organization: str = "Test Shop") -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class CertReply:
    key: str
    node: dict[str, Any]
    node_bytes: bytes
    alipay_cert_sn: str
    signature: bytes

    def verified_by(self, cert: x509.Certificate) -> bool:
        public_key = cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        try:
            public_key.verify(self.signature, self.node_bytes, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def parse_cert_reply(body: bytes) -> CertReply:
    """The real cert-mode order: the node, then alipay_cert_sn, then sign (reference §2.1-2.2)."""
    match = CERT_REPLY.fullmatch(body)
    assert match, body[:300]
    node_bytes = match.group(2)
    return CertReply(
        match.group(1).decode(), json.loads(node_bytes), node_bytes, match.group(3).decode(),
        base64.b64decode(match.group(4)),
    )  # fmt: skip


@dataclass
class CertApp:
    sim: GatewaySimulator
    client: TinyClient
    files: dict[str, str]
    app_cert_sn: str
    root_cert_sn: str

    def call(self, method: str, biz: dict[str, Any], **override: str) -> CertReply:
        sns = {"app_cert_sn": self.app_cert_sn, "alipay_root_cert_sn": self.root_cert_sn}
        response = self.client.send(
            method, biz, override={**sns, **override}, drop=tuple(k for k, v in override.items() if v == "-")
        )
        assert response.status_code == 200
        return parse_cert_reply(response.content)

    def alipay_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.files["alipayCertPublicKey_RSA2.crt"].encode())[0]


@pytest.fixture(scope="module")
def cert_app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert_app(sim: GatewaySimulator, key: rsa.RSAPrivateKey, clock: FakeClock | None = None) -> CertApp:
    files = sim.register_cert_app(CERT_APP, csr_for(key))
    client = TinyClient(sim.url, CERT_APP, key, sim.alipay_public_key_pem)
    if clock is not None:
        client.clock = clock
    bundle = x509.load_pem_x509_certificates(files.files["alipayRootCert.crt"].encode())
    app_cert = x509.load_pem_x509_certificates(files.files[f"appCertPublicKey_{CERT_APP}.crt"].encode())[0]
    return CertApp(sim, client, dict(files.files), sn_of(app_cert), root_sn_of(bundle))


@pytest.fixture
def cert_app(cert_app_key: rsa.RSAPrivateKey, clock: FakeClock) -> Iterator[CertApp]:
    with GatewaySimulator(clock=clock) as sim:
        app = _cert_app(sim, cert_app_key, clock)
        yield app
        app.client.close()


# -- serial numbers --------------------------------------------------------------------------------------
def test_cert_sn_matches_the_official_sdks_on_a_real_alipay_certificate() -> None:
    real = x509.load_pem_x509_certificate(REAL_APP_CERT.encode())
    assert cert_sn(real) == "866efef280dec9137a87d047ac446315"
    assert sn_of(real) == "866efef280dec9137a87d047ac446315"  # and the test's own arithmetic agrees


def test_registration_returns_the_consoles_three_files_and_the_sns_computed_independently(
    cert_app: CertApp,
) -> None:
    registered = cert_app.sim.register_cert_app(CERT_APP, csr_for(cert_app.client.private_key))
    assert set(registered.files) == {
        f"appCertPublicKey_{CERT_APP}.crt",
        "alipayCertPublicKey_RSA2.crt",
        "alipayRootCert.crt",
    }
    bundle = x509.load_pem_x509_certificates(registered.files["alipayRootCert.crt"].encode())
    app_cert = x509.load_pem_x509_certificates(registered.files[f"appCertPublicKey_{CERT_APP}.crt"].encode())[0]
    alipay_cert = x509.load_pem_x509_certificates(registered.files["alipayCertPublicKey_RSA2.crt"].encode())[0]
    assert registered.app_cert_sn == sn_of(app_cert)
    assert registered.alipay_cert_sn == sn_of(alipay_cert)
    assert registered.alipay_root_cert_sn == root_sn_of(bundle)
    # Like the real bundle: several roots, one not RSA (left out of the SN), so two SNs joined by "_".
    assert len(bundle) == 3 and isinstance(bundle[1].public_key(), ec.EllipticCurvePublicKey)
    assert registered.alipay_root_cert_sn == f"{sn_of(bundle[0])}_{sn_of(bundle[2])}"
    assert java_issuer(app_cert).startswith("CN=") and java_issuer(app_cert).endswith(",C=CN")


def test_issued_certificates_chain_to_the_root_bundle(cert_app: CertApp) -> None:
    files = cert_app.files
    bundle = x509.load_pem_x509_certificates(files["alipayRootCert.crt"].encode())
    for name in (f"appCertPublicKey_{CERT_APP}.crt", "alipayCertPublicKey_RSA2.crt"):
        leaf, intermediate = x509.load_pem_x509_certificates(files[name].encode())
        leaf.verify_directly_issued_by(intermediate)
        issuers = [root for root in bundle if root.subject == intermediate.issuer]
        assert len(issuers) == 1
        intermediate.verify_directly_issued_by(issuers[0])
        issuers[0].verify_directly_issued_by(issuers[0])
        assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    app_cert = x509.load_pem_x509_certificates(files[f"appCertPublicKey_{CERT_APP}.crt"].encode())[0]
    assert public_pem_of(app_cert) == public_pem(cert_app.client.private_key)  # the CSR's key, certified


def public_pem_of(cert: x509.Certificate) -> str:
    return (
        cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_bad_csrs_are_refused_clearly(cert_app: CertApp) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = bytearray(x509.load_pem_x509_csr(csr_for(other).encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature: still a well-formed CSR, no longer signed by its key
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    for bad, words in (("garbage", "certificate signing request"), (forged, "signature does not verify")):
        with pytest.raises(ValueError, match=words):
            cert_app.sim.register_cert_app("2021000000000888", bad)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refused: the point)
    with pytest.raises(ValueError, match="2048"):
        cert_app.sim.register_cert_app("2021000000000888", csr_for(small))
    with pytest.raises(ValueError, match="app_id"):
        cert_app.sim.register_cert_app("../etc", csr_for(other))


# -- requests and replies ----------------------------------------------------------------------------
def test_a_request_with_the_right_sns_succeeds_and_the_reply_carries_alipay_cert_sn(cert_app: CertApp) -> None:
    reply = cert_app.call("alipay.trade.query", {"out_trade_no": "none"})
    assert reply.key == "alipay_trade_query_response"
    assert reply.node["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # past every gateway check: a business answer
    assert reply.alipay_cert_sn == sn_of(cert_app.alipay_cert())
    assert reply.verified_by(cert_app.alipay_cert())
    # Not the public-key mode key: the certificate's key signs.
    gateway_key = serialization.load_pem_public_key(cert_app.sim.alipay_public_key_pem.encode())
    assert isinstance(gateway_key, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):
        gateway_key.verify(reply.signature, reply.node_bytes, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("override", "sub_code"),
    [
        ({"app_cert_sn": "-"}, "isv.missing-app-cert-sn"),
        ({"alipay_root_cert_sn": "-"}, "isv.missing-alipay-root-cert-sn"),
        ({"app_cert_sn": "0" * 32}, "isv.app-cert-not-exist"),
        ({"alipay_root_cert_sn": "0" * 32}, "isv.invalid-alipay-root-cert-sn"),
    ],
)
def test_missing_or_wrong_sns_get_the_real_sub_codes(
    cert_app: CertApp, override: dict[str, str], sub_code: str
) -> None:
    reply = cert_app.call("alipay.trade.query", {"out_trade_no": "none"}, **override)
    assert (reply.node["code"], reply.node["sub_code"]) == ("40002", sub_code)
    assert reply.verified_by(cert_app.alipay_cert())


def test_the_root_sn_must_leave_out_the_non_rsa_roots(cert_app: CertApp) -> None:
    bundle = x509.load_pem_x509_certificates(cert_app.files["alipayRootCert.crt"].encode())
    every_root = "_".join(sn_of(cert) for cert in bundle)  # what a client that forgets the filter sends
    reply = cert_app.call("alipay.trade.query", {"out_trade_no": "none"}, alipay_root_cert_sn=every_root)
    assert reply.node["sub_code"] == "isv.invalid-alipay-root-cert-sn"


def test_the_signature_is_checked_with_the_app_certificates_key(cert_app: CertApp) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sns = {"app_cert_sn": cert_app.app_cert_sn, "alipay_root_cert_sn": cert_app.root_cert_sn}
    response = cert_app.client.send("alipay.trade.query", {"out_trade_no": "x"}, override=sns, sign_with=stranger)
    assert parse_cert_reply(response.content).node["sub_code"] == "isv.invalid-signature"


def test_an_expired_app_certificate_is_refused(cert_app: CertApp, clock: FakeClock) -> None:
    clock.advance(6 * 365 * 86400)  # app certificates live 5 years
    reply = cert_app.call("alipay.trade.query", {"out_trade_no": "none"})
    assert (reply.node["code"], reply.node["sub_code"]) == ("40002", "isv.app-cert-expired")


def test_a_new_certificate_from_a_new_csr_replaces_the_old_one(cert_app: CertApp) -> None:
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = cert_app.sim.register_cert_app(CERT_APP, csr_for(new_key))
    old = cert_app.call("alipay.trade.query", {"out_trade_no": "none"})
    assert old.node["sub_code"] == "isv.app-cert-not-exist"
    cert_app.client.private_key = new_key
    new = cert_app.call("alipay.trade.query", {"out_trade_no": "none"}, app_cert_sn=files.app_cert_sn)
    assert new.node["sub_code"] == "ACQ.TRADE_NOT_EXIST"


# -- download and rotation ---------------------------------------------------------------------------
def download(app: CertApp, sn: str) -> CertReply:
    return app.call("alipay.open.app.alipaycert.download", {"alipay_cert_sn": sn})


def test_the_download_returns_the_certificate_file_base64(cert_app: CertApp) -> None:
    sn = sn_of(cert_app.alipay_cert())
    reply = download(cert_app, sn)
    assert reply.node["code"] == "10000"
    assert (
        base64.b64decode(reply.node["alipay_cert_content"]).decode() == cert_app.files["alipayCertPublicKey_RSA2.crt"]
    )
    unknown = download(cert_app, "f" * 32)
    assert (unknown.node["code"], unknown.node["sub_code"]) == ("40002", "isv.alipay-cert-not-exist")


def test_rotation_changes_the_sn_in_replies_and_the_new_certificate_is_downloadable(cert_app: CertApp) -> None:
    old_cert = cert_app.alipay_cert()
    new_sn = cert_app.sim.rotate_alipay_cert()
    assert new_sn != sn_of(old_cert)
    reply = cert_app.call("alipay.trade.query", {"out_trade_no": "none"})
    assert reply.alipay_cert_sn == new_sn and not reply.verified_by(old_cert)
    # What a client does on an unknown SN: download it, check it, verify the reply with it.
    fetched = download(cert_app, new_sn)
    new_chain = x509.load_pem_x509_certificates(base64.b64decode(fetched.node["alipay_cert_content"]))
    assert sn_of(new_chain[0]) == new_sn
    assert new_chain[0].public_key().public_numbers() != old_cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert new_chain[0].issuer == old_cert.issuer  # same CA, so it chains to the same root bundle
    assert reply.verified_by(new_chain[0]) and fetched.verified_by(new_chain[0])
    old = download(cert_app, sn_of(old_cert))  # the old one stays downloadable
    assert x509.load_pem_x509_certificates(base64.b64decode(old.node["alipay_cert_content"]))[0] == old_cert


def test_public_key_mode_apps_are_unaffected(cert_app: CertApp, app_key: rsa.RSAPrivateKey) -> None:
    cert_app.sim.register_app(APP_ID, public_pem(app_key))
    plain = TinyClient(cert_app.sim.url, APP_ID, app_key, cert_app.sim.alipay_public_key_pem)
    try:
        reply = plain.call("alipay.trade.query", {"out_trade_no": "none"})
        assert reply.verified and reply.sub_code == "ACQ.TRADE_NOT_EXIST"
        assert b"alipay_cert_sn" not in reply.body and reply.body.endswith(b'"}')
        assert re.fullmatch(rb'\{"alipay_trade_query_response":\{.*\},"sign":"[^"]+"\}', reply.body, re.S)
    finally:
        plain.close()


def test_registering_a_cert_app_again_in_public_key_mode_switches_it_back(cert_app: CertApp) -> None:
    cert_app.sim.register_app(CERT_APP, public_pem(cert_app.client.private_key))
    reply = cert_app.client.call("alipay.trade.query", {"out_trade_no": "none"})
    assert reply.verified and b"alipay_cert_sn" not in reply.body


# -- admin API, CLI, persistence ----------------------------------------------------------------------
def test_admin_api_registers_and_rotates(cert_app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator() as sim:
        admin = GatewayAdmin(sim.url)
        registered = admin.register_cert_app(CERT_APP, csr_for(cert_app_key))
        assert set(registered["files"]) >= {"alipayRootCert.crt", "alipayCertPublicKey_RSA2.crt"}
        assert admin.alipay_cert()["alipay_cert_sn"] == registered["alipay_cert_sn"]
        rotated = admin.rotate_alipay_cert()
        assert rotated["alipay_cert_sns"] == [registered["alipay_cert_sn"], rotated["alipay_cert_sn"]]
        cert = x509.load_pem_x509_certificates(rotated["files"]["alipayCertPublicKey_RSA2.crt"].encode())[0]
        assert sn_of(cert) == rotated["alipay_cert_sn"]
        bad = httpx.post(f"{sim.base_url}/__admin/cert-apps", json={"app_id": CERT_APP, "csr": "nope"})
        assert bad.status_code == 400 and "certificate signing request" in bad.json()["error"]
        assert CERT_APP in admin.health()["apps"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardware_sim.cli", "gateway", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_registers_from_a_csr_file_rotates_and_state_survives_a_restart(
    tmp_path: Path, cert_app_key: rsa.RSAPrivateKey
) -> None:
    (tmp_path / "app.csr").write_text(csr_for(cert_app_key))
    state, out = tmp_path / "state", tmp_path / "certs"
    with GatewaySimulator(state_dir=state) as sim:
        done = _cli("register-cert-app", "--url", sim.url, "--app-id", CERT_APP, "--csr", str(tmp_path / "app.csr"),
                    "--out", str(out))  # fmt: skip
        assert done.returncode == 0, done.stderr
        names = sorted(path.name for path in out.iterdir())
        assert names == sorted(
            [f"appCertPublicKey_{CERT_APP}.crt", "alipayCertPublicKey_RSA2.crt", "alipayRootCert.crt"]
        )
        rotated = _cli("rotate-alipay-cert", "--url", sim.url, "--out", str(tmp_path / "new"))
        assert rotated.returncode == 0, rotated.stderr
        new_sn = rotated.stdout.split("alipay_cert_sn: ")[1].split()[0]
        assert (
            sn_of(x509.load_pem_x509_certificates((tmp_path / "new/alipayCertPublicKey_RSA2.crt").read_bytes())[0])
            == new_sn
        )
    assert oct((state / "ca" / "intermediate.key").stat().st_mode & 0o777) == "0o600"
    with GatewaySimulator(state_dir=state) as sim:  # restarted: same CA, same app, the rotated certificate
        client = TinyClient(sim.url, CERT_APP, cert_app_key, sim.alipay_public_key_pem)
        app = CertApp(sim, client, {name: (out / name).read_text() for name in names}, "", "")
        bundle = x509.load_pem_x509_certificates((out / "alipayRootCert.crt").read_bytes())
        app_file = out / f"appCertPublicKey_{CERT_APP}.crt"
        app.app_cert_sn = sn_of(x509.load_pem_x509_certificates(app_file.read_bytes())[0])
        app.root_cert_sn = root_sn_of(bundle)
        reply = app.call("alipay.trade.query", {"out_trade_no": "none"})
        client.close()
    assert reply.node["sub_code"] == "ACQ.TRADE_NOT_EXIST" and reply.alipay_cert_sn == new_sn


def test_cli_mistakes_get_one_line_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "bad.csr").write_text("not a csr")
    with GatewaySimulator() as sim:
        bad_csr = _cli("register-cert-app", "--url", sim.url, "--app-id", CERT_APP, "--csr", str(tmp_path / "bad.csr"),
                       "--out", str(tmp_path / "out"))  # fmt: skip
    missing = _cli("register-cert-app", "--url", sim.url, "--app-id", CERT_APP, "--csr", str(tmp_path / "none.csr"),
                   "--out", str(tmp_path / "out"))  # fmt: skip
    down = _cli("rotate-alipay-cert", "--url", sim.url)  # the simulator is stopped now
    for result in (bad_csr, missing, down):
        assert result.returncode == 2
        assert result.stderr.startswith("posagent-sim gateway ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
    assert "certificate signing request" in bad_csr.stderr
    assert not (tmp_path / "out").exists()


def test_a_broken_saved_app_certificate_is_named_at_start(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / f"{CERT_APP}.crt").write_text("broken")
    started = _cli("--state-dir", str(tmp_path), "--port", "0")
    assert started.returncode == 2 and f"{CERT_APP}.crt is not a PEM certificate file with an RSA key" in started.stderr
    assert "Traceback" not in started.stderr


def test_the_last_registration_decides_the_mode_after_a_restart_too(
    tmp_path: Path, cert_app_key: rsa.RSAPrivateKey
) -> None:
    with GatewaySimulator(state_dir=tmp_path) as sim:
        sim.register_cert_app(CERT_APP, csr_for(cert_app_key))
        sim.register_app(CERT_APP, public_pem(cert_app_key))
    with GatewaySimulator(state_dir=tmp_path) as sim:
        client = TinyClient(sim.url, CERT_APP, cert_app_key, sim.alipay_public_key_pem)
        reply = client.call("alipay.trade.query", {"out_trade_no": "none"})
        client.close()
        assert reply.verified and b"alipay_cert_sn" not in reply.body
        with pytest.raises(ValueError, match="app_id"):  # app ids name files in the state dir
            sim.register_app("../outside", public_pem(cert_app_key))
    assert not (tmp_path / "outside.pem").exists()
