"""The store of Alipay certificates downloaded on rotation (state_dir/alipay_certs)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509

from agent.alipay.cert_store import AlipayCertStore
from agent.alipay.certs import AlipayCert, trust_alipay_cert
from tests.support.certs import NOW, new_pki, rsa_key


def a_trusted_cert() -> AlipayCert:
    pki = new_pki()
    return trust_alipay_cert(pki.alipay_cert(rsa_key("alipay-store")),
                             x509.load_pem_x509_certificates(pki.root_bundle), NOW)  # fmt: skip


def test_saved_certificates_are_read_back_and_readable_by_all(tmp_path: Path) -> None:
    cert = a_trusted_cert()
    store = AlipayCertStore(tmp_path / "alipay_certs")
    store.save(cert)
    assert store.load() == [cert.pem]
    (saved,) = (tmp_path / "alipay_certs").iterdir()
    assert saved.name == f"alipay_cert_{cert.sn}.pem" and saved.stat().st_mode & 0o777 == 0o644


def test_saved_by_root_they_belong_to_the_state_dirs_owner(tmp_path: Path) -> None:
    # `sudo posagent card ...` may be first to meet a rotation: the daemon's user must still add the next one.
    # (Tests run as root, as a technician's sudo does.)
    cert = a_trusted_cert()
    os.chown(tmp_path, 4321, 4321)  # the state dir belongs to the daemon's user
    AlipayCertStore(tmp_path / "alipay_certs").save(cert)
    folder = tmp_path / "alipay_certs"
    saved = folder / f"alipay_cert_{cert.sn}.pem"
    assert (folder.stat().st_uid, folder.stat().st_gid) == (4321, 4321)
    assert (saved.stat().st_uid, saved.stat().st_gid, saved.stat().st_mode & 0o777) == (4321, 4321, 0o644)
