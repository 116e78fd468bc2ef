"""`posagent config check` in certificate mode: it refuses what `run` refuses (mixed-up or non-chaining
certificate files, in the same words) and warns 30 days before a certificate ends."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from agent.cli.main import main
from tests.support.certs import NOW, Pki, new_pki, rsa_key
from tests.support.daemon import free_port, write_store_files
from tests.support.gateway import _APP_KEY


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


def cert_mode_site(tmp_path: Path, pki: Pki, alipay_cert: bytes | None = None, roots: bytes | None = None) -> Path:
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", "unused", free_port())
    keys = tmp_path / "keys"
    (keys / "app.crt").write_bytes(pki.app_cert(_APP_KEY))
    (keys / "alipay.crt").write_bytes(alipay_cert or pki.alipay_cert(rsa_key("alipay-1")))
    (keys / "root.crt").write_bytes(roots or pki.root_bundle)
    text = config.read_text().replace('alipay_public_key_file = "keys/alipay_public_key.pem"',
                                      'app_cert_file = "keys/app.crt"\nalipay_cert_file = "keys/alipay.crt"\n'
                                      'alipay_root_cert_file = "keys/root.crt"')  # fmt: skip
    config.write_text(text)
    return config


def test_a_good_certificate_set_passes_quietly(tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(cert_mode_site(tmp_path, pki)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_a_certificate_ending_soon_is_a_warning(tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    soon = pki.alipay_cert(rsa_key("alipay-1"), not_after=NOW + timedelta(days=20))
    assert main(["config", "check", "--config", str(cert_mode_site(tmp_path, pki, alipay_cert=soon))]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "alipay.alipay_cert_file" in err and "expires on" in err


def test_a_root_bundle_without_the_right_root_is_refused(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cert_mode_site(tmp_path, pki, roots=new_pki("other").root_bundle)
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "alipay.alipay_cert_file" in err and "does not chain" in err and "Traceback" not in err
