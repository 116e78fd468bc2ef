"""A full disk under the agent's state: every op that writes answers STORAGE_FULL (never INTERNAL), the
daemon keeps serving, and once space is freed the same requests succeed. The state directory is a real
2 MiB tmpfs filled to the last byte, so the errors are the kernel's and SQLite's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.ecr.client import EcrClient, EcrError
from hardware_sim.gateway.payment_codes import Behaviour, example
from hardware_sim.printer import PrinterSimulator
from tests.support.daemon import Daemon, card_template, free_port, member_config, write_store_files
from tests.support.filesystems import fill, tmpfs
from tests.support.gateway import Store as GatewayStore


def refused_for_space(ecr: EcrClient, op: str, body: dict[str, object]) -> None:
    with pytest.raises(EcrError) as info:
        ecr.request(op, body)
    assert (info.value.code, info.value.retryable) == ("STORAGE_FULL", True), info.value.message
    assert "disk is full" in info.value.message


SALE = {"sale_id": "D1", "amount": "5.00", "subject": "Till 1", "code": example(Behaviour.PAID)}


def update(n: int) -> dict[str, object]:
    return {"update_id": f"U{n}", "card_no": f"LOTUS{n:010d}", "points": "10", "occur_time": "2026-11-25 10:00:00"}


def test_a_full_disk_is_storage_full_and_the_agent_recovers(tmp_path: Path, simulated_gateway: GatewayStore) -> None:
    template_id = card_template(simulated_gateway)
    gateway = simulated_gateway.gateway
    with tmpfs(tmp_path / "state", "size=2m") as state, PrinterSimulator(tmp_path / "slips", paper_mm=80) as printer:
        port = free_port()
        config = write_store_files(tmp_path, gateway.url, gateway.alipay_public_key_pem, port,
                                   member_config(template_id, printer.port, free_port()))  # fmt: skip
        daemon = Daemon(config, port, tmp_path / "daemon.log")
        daemon.start()
        try:
            with daemon.ecr() as ecr:
                assert ecr.request("loyalty.update", update(0))["update"]["state"] == "pending"
                fill(state / "filler")
                # SQLite's write-ahead log may still hold a few pages: write until it is full too.
                codes = []
                for n in range(1, 200):
                    try:
                        ecr.request("loyalty.update", update(n))
                    except EcrError as exc:
                        codes.append(exc.code)
                        break
                assert codes == ["STORAGE_FULL"]
                refused_for_space(ecr, "loyalty.update", update(500))
                refused_for_space(ecr, "sale.start", SALE)
                refused_for_space(ecr, "member.enroll", {"job_id": "E1"})
                assert ecr.request("status.get")["agent"]["epoch"]  # still serving
            assert daemon.process is not None and daemon.process.poll() is None
            assert gateway.inspect()["calls"].get("alipay.trade.pay", 0) == 0  # no payment without its record
            assert printer.jobs() == []

            (state / "filler").unlink()
            with daemon.ecr() as ecr:
                assert ecr.request("loyalty.update", update(500))["update"]["state"] == "pending"
                assert ecr.request("sale.start", SALE)["sale"]["state"] in ("paying", "succeeded")
                sale = ecr.wait_for("sale.updated", lambda b: b["sale"]["final"], timeout=20)["body"]["sale"]
                assert sale["state"] == "succeeded"
                ecr.request("member.enroll", {"job_id": "E1"})
                ecr.wait_for("print.updated", lambda b: b["job"]["state"] == "printed", timeout=20)
            assert len(printer.wait_for_jobs(1)) == 1
        finally:
            daemon.stop()
