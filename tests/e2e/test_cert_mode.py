"""Certificate mode end to end: `posagent run` and the simulated gateway, set up as a merchant does (a CSR
from `posagent keys generate --csr`, the console's three files). The whole membership journey and a payment,
then Alipay rotating its certificate in the middle of an outbox drain, then a restart that trusts it at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from agent.alipay import AlipayClient
from agent.alipay.certs import trust_alipay_cert
from agent.config import alipay_cert_store, load_config, load_credentials
from hardware_sim.customer import open_card
from hardware_sim.gateway import GatewaySimulator
from hardware_sim.gateway.payment_codes import Behaviour, example
from hardware_sim.printer import PrinterSimulator
from tests.e2e.test_members import enroll_and_scan_slip
from tests.support.certmode import CERT_FILES, posagent, write_cert_store_files
from tests.support.daemon import Daemon, MemberStore, free_port, member_config
from tests.support.gateway import Store as GatewayStore
from tests.support.gateway import make_template

DOWNLOAD = "alipay.open.app.alipaycert.download"
TEMPLATE_PLACEHOLDER = "99999999999999999999"  # replaced once the template is made


@dataclass
class CertStore:
    store: MemberStore
    sim: GatewaySimulator

    @property
    def daemon(self) -> Daemon:
        return self.store.daemon

    def downloads(self) -> int:
        return int(self.sim.inspect()["calls"].get(DOWNLOAD, 0))

    def stored_certs(self) -> list[str]:
        folder = self.daemon.config.parent / "state" / "alipay_certs"
        return sorted(p.name for p in folder.glob("alipay_cert_*.pem")) if folder.is_dir() else []


def template_made_in_cert_mode(config: Path) -> str:
    """The merchant's card template, made with the cert-mode credentials of the config."""
    settings = load_config(config).alipay

    async def make() -> str:
        async with AlipayClient(load_credentials(settings), settings.gateway) as client:
            return await make_template(client, prefix="LOTUS")

    return asyncio.run(make())


@pytest.fixture
def cert_store(tmp_path: Path) -> Iterator[CertStore]:
    with GatewaySimulator() as sim, PrinterSimulator(tmp_path / "slips", paper_mm=80) as printer:
        port, callback_port = free_port(), free_port()
        config = write_cert_store_files(tmp_path, sim, port, member_config(TEMPLATE_PLACEHOLDER, printer.port,
                                                                           callback_port))  # fmt: skip
        template_id = template_made_in_cert_mode(config)
        config.write_text(config.read_text().replace(TEMPLATE_PLACEHOLDER, template_id))
        running = Daemon(config, port, tmp_path / "daemon.log")
        running.start()
        try:
            yield CertStore(MemberStore(running, printer, GatewayStore(sim, None), template_id,  # type: ignore[arg-type]
                                        callback_port), sim)  # fmt: skip
        finally:
            running.stop()


def open_a_card(store: CertStore, job_id: str, mobile: str) -> str:
    url = enroll_and_scan_slip(store.store, job_id)
    with store.daemon.ecr() as ecr:
        result = open_card(url, mobile=mobile, name="李雷", follow_callback=True)
        assert result.callback_status == 200, result.error
        opened = ecr.wait_for("member.opened", lambda b: b["job_id"] == job_id, timeout=30)["body"]
    return str(opened["card_no"])


def card_on_the_books(store: CertStore, card_no: str) -> dict[str, Any]:
    return next(c for c in store.sim.inspect()["cards"] if c["biz_card_no"] == card_no)


def test_membership_journey_and_a_payment_in_certificate_mode(cert_store: CertStore) -> None:
    card_no = open_a_card(cert_store, "E1", "13900001111")
    assert card_no.startswith("LOTUS")
    with cert_store.daemon.ecr() as ecr:
        found = ecr.request("member.lookup", {"card_no": card_no})
        assert found["stale"] is False and found["member"]["point"] == "100" and found["member"]["level"] == "VIP1"
        update = ecr.request("loyalty.update", {"update_id": "U1", "card_no": card_no, "points": "180",
                                                "occur_time": "2026-11-25 10:00:00"})  # fmt: skip
        assert update["update"]["state"] == "pending"
        assert ecr.wait_for("loyalty.updated", lambda b: b["update_id"] == "U1", timeout=20)["body"]["state"] == "done"
        started = ecr.request("sale.start", {"sale_id": "C1", "amount": "12.5", "subject": "Till 1",
                                             "code": example(Behaviour.PAID)})  # fmt: skip
        sale = ecr.wait_for("sale.updated", lambda b: bool(b["sale"]["final"]), timeout=20)["body"]["sale"]
        assert sale["state"] == "succeeded"
    books = cert_store.sim.inspect()
    assert card_on_the_books(cert_store, card_no)["point"] == "180" and books["regressions"] == 0
    trade = next(t for t in books["trades"] if t["out_trade_no"] == started["sale"]["out_trade_no"])
    assert trade["status"] == "TRADE_SUCCESS" and trade["total_amount"] == "12.50"
    assert cert_store.downloads() == 0  # the configured Alipay certificate signed everything


def test_a_rotation_in_the_middle_of_a_drain_is_one_download_and_kept_for_the_next_start(
    cert_store: CertStore,
) -> None:
    cards = [open_a_card(cert_store, f"E{i}", f"1390000{i:04d}") for i in range(1, 4)]
    cert_store.sim.outage(600)
    # One update a card (a newer update of the same card would supersede the queued one).
    updates = [(f"U{i}", card, str(200 + i)) for i, card in enumerate(cards)]
    with cert_store.daemon.ecr() as ecr:
        for number, (update_id, card, points) in enumerate(updates):
            queued = ecr.request("loyalty.update", {"update_id": update_id, "card_no": card, "points": points,
                                                    "occur_time": f"2026-11-25 10:{number:02d}:00"})  # fmt: skip
            assert queued["update"]["state"] == "pending"
        new_sn = cert_store.sim.rotate_alipay_cert()
        cert_store.sim.set_faults()  # the line is back: the outbox drains under the rotated certificate
        for update_id, _, _ in updates:
            done = ecr.wait_for("loyalty.updated", lambda b, u=update_id: b["update_id"] == u, timeout=60)["body"]
            assert done["state"] == "done"
    books = cert_store.sim.inspect()
    for card in cards:
        sent = [u["point"] for u in card_on_the_books(cert_store, card)["updates"]]
        assert sent == [points for _, c, points in updates if c == card]  # each job exactly once
    assert books["regressions"] == 0
    assert cert_store.downloads() == 1
    assert cert_store.stored_certs() == [f"alipay_cert_{new_sn}.pem"]
    # The next start trusts the kept certificate at once: no second download.
    cert_store.daemon.stop()
    cert_store.daemon.start()
    with cert_store.daemon.ecr() as ecr:
        found = ecr.request("member.lookup", {"card_no": cards[0]}, timeout=20)
        assert found["stale"] is False and found["member"]["point"] == updates[0][2]
    assert cert_store.downloads() == 1
    assert alipay_cert_store(cert_store.daemon.config.parent / "state").load()  # still there, readable


def test_an_expired_configured_certificate_gives_way_to_the_rotated_one_kept_at_the_last_start(
    tmp_path: Path,
) -> None:
    years_ago = 6 * 365 * 86400.0  # the simulator's certificates live 5 years
    offset = [-years_ago]
    with GatewaySimulator(clock=lambda: time.time() + offset[0]) as sim:
        configured = sim.gateway.cert_mode.current_alipay_cert().file_text  # issued 6 years ago: expired
        offset[0] = 0.0
        rotated_sn = sim.rotate_alipay_cert()
        port = free_port()
        config = write_cert_store_files(tmp_path, sim, port)
        keys = config.parent / "certkeys"
        (keys / CERT_FILES["alipay_cert_file"]).write_text(configured)
        # What the last run kept when Alipay rotated (as test_a_rotation_in_the_middle... shows it does).
        roots = x509.load_pem_x509_certificates((keys / CERT_FILES["alipay_root_cert_file"]).read_bytes())
        rotated = trust_alipay_cert(sim.gateway.cert_mode.current_alipay_cert().file_text.encode(), roots,
                                    datetime.now(UTC))  # fmt: skip
        assert rotated.sn == rotated_sn
        alipay_cert_store(config.parent / "state").save(rotated)
        daemon = Daemon(config, port, tmp_path / "daemon.log")
        daemon.start()
        try:
            with daemon.ecr() as ecr:
                ecr.request("sale.start", {"sale_id": "X1", "amount": "3", "subject": "Till 1",
                                           "code": example(Behaviour.PAID)})  # fmt: skip
                sale = ecr.wait_for("sale.updated", lambda b: bool(b["sale"]["final"]), timeout=20)["body"]["sale"]
                assert sale["state"] == "succeeded"
        finally:
            daemon.stop()
        assert sim.inspect()["calls"].get(DOWNLOAD, 0) == 0
        assert f"certificate {rotated_sn}" in daemon.log.read_text()  # the technician is told to replace the file
        checked = posagent("config", "check", "--config", str(config))
        assert checked.returncode == 0 and rotated_sn in checked.stderr and "expired on" in checked.stderr
    # Without the kept certificate, the expired file is refused as before, naming the setting.
    for kept in (config.parent / "state" / "alipay_certs").iterdir():
        kept.unlink()
    refused = posagent("config", "check", "--config", str(config))
    assert refused.returncode != 0 and "alipay.alipay_cert_file" in refused.stderr + refused.stdout


MIXED_UP = {  # which file is put where, and the setting the refusal must name
    "Alipay's certificate is the app's": ("alipay_cert_file", "app_cert_file", "alipay.alipay_cert_file"),
    "the app's certificate is Alipay's": ("app_cert_file", "alipay_cert_file", "alipay.app_cert_file"),
    "the root bundle is Alipay's certificate": ("alipay_root_cert_file", "alipay_cert_file",
                                                "alipay.alipay_root_cert_file"),
    "Alipay's certificate is the root bundle": ("alipay_cert_file", "alipay_root_cert_file", "alipay.alipay_cert_file"),
}  # fmt: skip


def test_mixed_up_console_files_are_refused_naming_the_setting(tmp_path: Path) -> None:
    with GatewaySimulator() as sim:
        config = write_cert_store_files(tmp_path, sim, free_port())
    keys = config.parent / "certkeys"
    originals = {setting: (keys / name).read_bytes() for setting, name in CERT_FILES.items()}
    assert posagent("config", "check", "--config", str(config)).returncode == 0
    for case, (setting, given, named) in MIXED_UP.items():
        (keys / CERT_FILES[setting]).write_bytes(originals[given])
        refused = posagent("config", "check", "--config", str(config))
        assert refused.returncode == 2 and named in refused.stderr, (case, refused.stderr)
        assert "Traceback" not in refused.stderr
        (keys / CERT_FILES[setting]).write_bytes(originals[setting])
