"""Scanner in, printer out, through the daemon's socket: scans as masked events, paid by scan_id,
receipts that really print (and scan back), paper-out refused, the cash drawer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from agent.ecr.client import EcrClient, EcrError
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.daemon import Store


def wait_printer(ecr: EcrClient, state: str, timeout: float = 15) -> None:
    """Poll status.get: the state may have been reached before this client connected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(d["kind"] == "printer" and d["state"] == state for d in ecr.request("status.get")["devices"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"the printer never reached {state}")


def test_a_scanned_payment_code_is_masked_and_pays_by_scan_id(store: Store) -> None:
    code = example(Behaviour.PAID)
    with store.daemon.ecr() as ecr:
        store.scanner.scan(code)
        scan = ecr.wait_for("scan", timeout=10)["body"]
        assert scan["class"] == "alipay_payment" and scan["source"] == "serial"
        assert code not in str(scan) and scan["masked"].endswith(code[-4:])
        ecr.request("sale.start", {"sale_id": "S1", "amount": "3.50", "subject": "Till 1", "scan_id": scan["scan_id"]})
        sale = ecr.wait_for("sale.updated", lambda b: b["sale"]["final"], timeout=20)["body"]["sale"]
        assert sale["state"] == "succeeded"
        resent = ecr.request("sale.start", {"sale_id": "S1", "amount": "3.50", "subject": "Till 1",
                                            "scan_id": scan["scan_id"]})  # fmt: skip
        assert resent["sale"]["out_trade_no"] == sale["out_trade_no"]  # a resend is the same sale
        with pytest.raises(EcrError) as reused:  # a scan pays once
            ecr.request("sale.start", {"sale_id": "S2", "amount": "1", "subject": "Till 1", "scan_id": scan["scan_id"]})
        assert reused.value.code == "NOT_FOUND"
    assert code not in (store.daemon.log.read_text())


def test_a_refused_sale_start_leaves_its_scan_usable(store: Store) -> None:
    """A scan is used up only once a sale holds its code: a malformed or BUSY request loses nothing."""
    with store.daemon.ecr() as ecr:
        store.scanner.scan(example(Behaviour.PAID))
        scan_id = ecr.wait_for("scan", lambda b: b["class"] == "alipay_payment", timeout=10)["body"]["scan_id"]
        for bad in ({"amount": "abc"}, {"amount": "1e3"}, {"subject": "Till\n1"}):
            with pytest.raises(EcrError) as refused:
                ecr.request("sale.start", {"sale_id": "S9", "amount": "3", "subject": "Till 1", "scan_id": scan_id,
                                           **bad})  # fmt: skip
            assert refused.value.code == "BAD_REQUEST"
        ecr.request("sale.start", {"sale_id": "S8", "amount": "2", "subject": "Till 1"})  # now the till is busy
        with pytest.raises(EcrError) as busy:
            ecr.request("sale.start", {"sale_id": "S9", "amount": "3", "subject": "Till 1", "scan_id": scan_id})
        assert busy.value.code == "BUSY"
        ecr.request("sale.cancel", {"sale_id": "S8"})
        ecr.wait_for("sale.updated", lambda b: b["sale"]["sale_id"] == "S8" and b["sale"]["final"], timeout=20)
        paid = ecr.request("sale.start", {"sale_id": "S9", "amount": "3", "subject": "Till 1", "scan_id": scan_id})
        assert paid["sale"]["state"] in ("paying", "succeeded") and paid["sale"]["amount"] == "3.00"


def test_a_payment_code_scanned_while_a_sale_waits_pays_it(store: Store) -> None:
    with store.daemon.ecr() as ecr:
        started = ecr.request("sale.start", {"sale_id": "W1", "amount": "2", "subject": "Till 1"})
        assert started["sale"]["state"] == "waiting_for_code"
        store.scanner.scan(example(Behaviour.PAID))
        sale = ecr.wait_for("sale.updated", lambda b: b["sale"]["final"], timeout=20)["body"]["sale"]
        assert sale["state"] == "succeeded"


def test_a_member_card_scan_carries_its_number(store: Store) -> None:
    with store.daemon.ecr() as ecr:
        store.scanner.scan("LOTUS0000000042")
        scan = ecr.wait_for("scan", timeout=10)["body"]
        assert scan["class"] == "member_card" and scan["code"] == "LOTUS0000000042"


def test_print_qr_prints_and_the_slip_scans_back(store: Store) -> None:
    url = "https://member.example/open?id=42"
    with store.daemon.ecr() as ecr:
        answer = ecr.request("print.qr", {"job_id": "P1", "data": url, "title": "Join us", "lines": ["Scan me"]})
        assert answer["job"]["job_id"] == "P1"
        done = ecr.wait_for("print.updated", lambda b: b["job"]["state"] in ("printed", "failed"), timeout=20)
        assert done["body"]["job"]["state"] == "printed"
        again = ecr.request("print.qr", {"job_id": "P1", "data": url, "title": "Join us", "lines": ["Scan me"]})
        assert again["job"]["state"] == "printed"  # a resend is the same job, not a second slip
        with pytest.raises(EcrError) as conflict:
            ecr.request("print.qr", {"job_id": "P1", "data": "https://other.example"})
        assert conflict.value.code == "IDEMPOTENCY_CONFLICT"
    (job,) = store.printer.wait_for_jobs(1, timeout=10)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(Path(job.png)))] == [url]


def test_paper_out_is_reported_and_refused_then_recovers(store: Store) -> None:
    with store.daemon.ecr() as ecr:
        wait_printer(ecr, "ready")
        store.printer.set_state(paper="end")
        changed = ecr.wait_for("device.status", lambda b: b["kind"] == "printer" and b["state"] != "ready",
                               timeout=15)  # fmt: skip
        assert changed["body"]["state"] == "paper_end"
        with pytest.raises(EcrError) as refused:
            ecr.request("print.text", {"job_id": "T1", "lines": ["hello"]})
        assert refused.value.code == "PRINTER_PAPER_OUT"
        status = ecr.request("status.get")
        assert any(d["kind"] == "printer" and d["state"] == "paper_end" for d in status["devices"])
        store.printer.set_state(paper="ok")
        ecr.wait_for("device.status", lambda b: b["kind"] == "printer" and b["state"] == "ready", timeout=15)
        assert ecr.request("print.text", {"job_id": "T2", "lines": ["hello"]})["job"]["job_id"] == "T2"


def test_drawer_opens(store: Store) -> None:
    with store.daemon.ecr() as ecr:
        wait_printer(ecr, "ready")
        assert ecr.request("drawer.open") == {"opened": True}
