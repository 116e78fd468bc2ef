"""`posagent keys generate --csr`: the private key (0600) and a CSR the console turns into the app certificate."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from agent.alipay.keys import read_private_key_file
from agent.cli.main import main
from agent.config import load_config, load_credentials
from tests.support.certs import expected_sn, new_pki, rsa_key


def test_csr_round_trip_through_a_console_gives_a_working_certificate_set(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    code = main(["keys", "generate", "--out", str(keys), "--csr", "--app-id", "2021000000000001", "--org", "Acme"])
    assert code == 0
    private = keys / "app_private_key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    csr = x509.load_pem_x509_csr((keys / "app_cert_request.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.public_key() == read_private_key_file(private).public_key()
    # What the console does with it, then the three files it gives back, configured.
    pki = new_pki()
    (keys / "app.crt").write_bytes(pki.app_cert_from_csr((keys / "app_cert_request.csr").read_bytes()))
    (keys / "alipay.crt").write_bytes(pki.alipay_cert(rsa_key("alipay-1")))
    (keys / "root.crt").write_bytes(pki.root_bundle)
    (tmp_path / "agent.toml").write_text('[alipay]\napp_id = "2021000000000001"\n'
                                         'app_private_key_file = "keys/app_private_key.pem"\n'
                                         'app_cert_file = "keys/app.crt"\nalipay_cert_file = "keys/alipay.crt"\n'
                                         'alipay_root_cert_file = "keys/root.crt"\n')  # fmt: skip
    credentials = load_credentials(load_config(tmp_path / "agent.toml").alipay)
    assert credentials.cert_mode is not None
    app_cert = x509.load_pem_x509_certificates((keys / "app.crt").read_bytes())[0]
    assert credentials.cert_mode.app_cert_sn == expected_sn(app_cert)
    assert app_cert.subject.rfc4514_string() == "CN=2021000000000001,O=Acme,C=CN"


@pytest.mark.parametrize("extra", [[], ["--app-id", "2021000000000001"], ["--app-id", "12", "--org", "Acme"]])
def test_csr_needs_its_names(tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "k"), "--csr", *extra]) == 2
    assert not (tmp_path / "k" / "app_private_key.pem").exists()
    assert "Traceback" not in capsys.readouterr().err
