"""The doctor in certificate mode: each certificate file parses, the chain holds, the app certificate is the
private key's, and a certificate ending within 30 days is a warning with its fix."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from agent.config import load_config
from agent.doctor import Context, Finding
from agent.doctor.checks.certificates import check_certificates
from agent.doctor.checks.files import check_keys
from tests.agent.config.test_cert_mode_config import write_setup
from tests.support.certs import NOW, Pki, new_pki, rsa_key


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


def findings(path: Path, check: str = "certificates", *, days_later: float = 0) -> list[Finding]:
    context = Context(path, config=load_config(path), clock=lambda: time.time() + days_later * 86400)
    return check_certificates(context) if check == "certificates" else check_keys(context)


def test_a_good_set_is_ok(tmp_path: Path, pki: Pki) -> None:
    [finding] = findings(write_setup(tmp_path, pki))
    assert finding.status == "OK" and "matches the app private key" in finding.message


def test_a_certificate_ending_within_30_days_is_a_warning_with_its_fix(tmp_path: Path, pki: Pki) -> None:
    soon = pki.alipay_cert(rsa_key("alipay-1"), not_after=NOW + timedelta(days=10))
    result = findings(write_setup(tmp_path, pki, **{"alipayCertPublicKey_RSA2.crt": soon}))
    warning = next(f for f in result if f.status == "WARN")
    assert "Alipay public-key certificate (alipay.alipay_cert_file) expires on" in warning.message
    assert warning.fix and "docs/operations.md" in warning.fix
    # Once the date has passed it is a failure naming the setting.
    [failure] = findings(tmp_path / "agent.toml", days_later=11)
    assert failure.status == "FAIL" and "alipay.alipay_cert_file" in failure.message and "expired" in failure.message


def test_an_app_certificate_of_another_key_fails(tmp_path: Path, pki: Pki) -> None:
    other = pki.app_cert(rsa_key("other-app"))
    [failure] = findings(write_setup(tmp_path, pki, **{"appCertPublicKey.crt": other}))
    assert failure.status == "FAIL" and "alipay.app_cert_file" in failure.message
    assert failure.fix and "--csr" in failure.fix


def test_a_root_bundle_without_alipays_root_fails(tmp_path: Path, pki: Pki) -> None:
    [failure] = findings(write_setup(tmp_path, pki, **{"alipayRootCert.crt": new_pki("other").root_bundle}))
    assert failure.status == "FAIL" and "does not chain" in failure.message


def test_each_certificate_file_is_checked_to_parse(tmp_path: Path, pki: Pki) -> None:
    path = write_setup(tmp_path, pki, **{"alipayRootCert.crt": b"not a certificate"})
    by_name = {f.name: f for f in findings(path, "keys")}
    assert by_name["key.app_cert"].status == "OK" and by_name["key.alipay_cert"].status == "OK"
    assert by_name["key.alipay_root_cert"].status == "FAIL"
    assert "key.alipay_public" not in by_name


def test_an_expired_configured_certificate_with_a_rotated_one_kept_is_a_warning(tmp_path: Path, pki: Pki) -> None:
    from cryptography import x509

    from agent.alipay.certs import trust_alipay_cert
    from agent.config import alipay_cert_store

    expired = pki.alipay_cert(rsa_key("alipay-1"), not_before=NOW - timedelta(days=400),
                              not_after=NOW - timedelta(days=1))  # fmt: skip
    path = write_setup(tmp_path, pki, **{"alipayCertPublicKey_RSA2.crt": expired})
    path.write_text(path.read_text() + '[paths]\nstate_dir = "state"\n')
    rotated = trust_alipay_cert(pki.alipay_cert(rsa_key("alipay-2")), x509.load_pem_x509_certificates(pki.root_bundle),
                                NOW)  # fmt: skip
    alipay_cert_store(tmp_path / "state").save(rotated)
    result = findings(path)
    assert [f.status for f in result] == ["OK", "WARN"]
    assert rotated.sn in result[1].message and "alipay.alipay_cert_file" in result[1].message
    assert result[1].fix and "replace the file" in result[1].fix
