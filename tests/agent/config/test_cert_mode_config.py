"""Certificate mode in the config: the three files the console gives instead of Alipay's public key, checked
together when the credentials load (what `posagent run` and `posagent config check` refuse)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from agent.alipay.keys import generate_app_key_pair, read_private_key_file
from agent.config import ConfigError, alipay_cert_store, load_config, load_credentials, parse_config
from tests.support.certs import NOW, Pki, expected_root_sn, expected_sn, new_pki, pem, rsa_key

BASE = """
[alipay]
app_id = "2021000000000001"
app_private_key_file = "keys/app_private_key.pem"
"""
CERTS = """app_cert_file = "keys/appCertPublicKey.crt"
alipay_cert_file = "keys/alipayCertPublicKey_RSA2.crt"
alipay_root_cert_file = "keys/alipayRootCert.crt"
"""


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


def write_setup(tmp_path: Path, pki: Pki, **override: bytes) -> Path:
    pair = generate_app_key_pair(tmp_path / "keys")
    app_key = read_private_key_file(pair.private_key_path)
    files = {"appCertPublicKey.crt": pki.app_cert(app_key),
             "alipayCertPublicKey_RSA2.crt": pki.alipay_cert(rsa_key("alipay-1")),
             "alipayRootCert.crt": pki.root_bundle} | override  # fmt: skip
    for name, data in files.items():
        (tmp_path / "keys" / name).write_bytes(data)
    (tmp_path / "agent.toml").write_text(BASE + CERTS)
    return tmp_path / "agent.toml"


def test_certificate_mode_loads_with_both_sns(tmp_path: Path, pki: Pki) -> None:
    config = load_config(write_setup(tmp_path, pki))
    assert config.alipay.cert_mode
    credentials = load_credentials(config.alipay)
    assert credentials.cert_mode is not None
    app_cert = x509.load_pem_x509_certificates((tmp_path / "keys/appCertPublicKey.crt").read_bytes())[0]
    assert credentials.cert_mode.app_cert_sn == expected_sn(app_cert)
    assert credentials.cert_mode.alipay_root_cert_sn == expected_root_sn(x509.load_pem_x509_certificates(pki.root_bundle))


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (BASE, "alipay.alipay_public_key_file", "certificate mode"),
        (BASE + 'alipay_public_key_file = "a.pem"\n' + CERTS, "alipay.app_cert_file", "not both"),
        (BASE + 'app_cert_file = "a.crt"\n', "alipay.alipay_root_cert_file", "required in certificate mode"),
    ],
)
def test_one_mode_or_the_other(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="agent.toml", base_dir=tmp_path)
    messages = {p.key: p.message for p in info.value.problems}
    assert words in messages[key]


def test_mixed_up_files_name_the_setting_at_fault(tmp_path: Path, pki: Pki) -> None:
    cases = {
        "app certificate given as Alipay's": ({"alipayCertPublicKey_RSA2.crt": b"APP"}, "alipay.alipay_cert_file",
                                              "it is the app certificate"),
        "root bundle without the right root": ({"alipayRootCert.crt": new_pki("other").root_bundle},
                                               "alipay.alipay_cert_file", "does not chain"),
        "root bundle with no RSA root": ({"alipayRootCert.crt": pem(pki.ec_root.cert)},
                                         "alipay.alipay_root_cert_file", "no RSA certificate"),
        "expired Alipay certificate": ({"alipayCertPublicKey_RSA2.crt": pki.alipay_cert(
            rsa_key("alipay-1"), not_before=NOW - timedelta(days=99), not_after=NOW - timedelta(days=1))},
            "alipay.alipay_cert_file", "expired"),
        "Alipay's certificate given as the app's": ({"appCertPublicKey.crt": pki.alipay_cert(rsa_key("alipay-1"))},
                                                    "alipay.app_cert_file", "does not match the app private key"),
        "the RSA root given as Alipay's certificate": ({"alipayCertPublicKey_RSA2.crt": pem(pki.rsa_root.cert)},
                                                        "alipay.alipay_cert_file", "is a CA certificate"),
        "a public key instead of a certificate": ({"alipayRootCert.crt": b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"},
                                                  "alipay.alipay_root_cert_file", "not a PEM certificate"),
    }  # fmt: skip
    for index, (case, (override, key, words)) in enumerate(cases.items()):
        folder = tmp_path / str(index)
        folder.mkdir()
        path = write_setup(folder, pki, **override)
        if override.get("alipayCertPublicKey_RSA2.crt") == b"APP":
            app = (folder / "keys/appCertPublicKey.crt").read_bytes()
            (folder / "keys/alipayCertPublicKey_RSA2.crt").write_bytes(app)
        with pytest.raises(ConfigError) as info:
            load_credentials(load_config(path).alipay)
        problem = info.value.problems[0]
        assert (problem.key, words in problem.message) == (key, True), case
        assert problem.fix and "docs/operations.md" in problem.fix


def test_certificates_kept_after_a_rotation_are_trusted_at_start(tmp_path: Path, pki: Pki) -> None:
    config = load_config(write_setup(tmp_path, pki))
    store = alipay_cert_store(tmp_path / "state")
    from agent.alipay.certs import trust_alipay_cert

    rotated = trust_alipay_cert(pki.alipay_cert(rsa_key("alipay-2")), x509.load_pem_x509_certificates(pki.root_bundle),
                                NOW)  # fmt: skip
    store.save(rotated)
    credentials = load_credentials(config.alipay, cert_store=store)
    assert credentials.cert_mode is not None
    assert rotated.sn in [c.sn for c in credentials.cert_mode.alipay_certs]
