"""Every op's body follows docs/ecr-protocol.md "Field rules" on the real daemon: each malformed field
gets BAD_REQUEST naming the field, and nothing of it reaches Alipay, the outbox or the printer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent.ecr.client import EcrError
from agent.storage import database_path
from hardware_sim.gateway.payment_codes import Behaviour, example
from offline_queue import Outbox
from tests.support.daemon import MemberStore

SALE = {"sale_id": "F1", "amount": "10.00", "subject": "Till 1", "code": example(Behaviour.PAID)}
UPDATE = {"update_id": "U1", "card_no": "LOTUS0000000001", "occur_time": "2026-11-25 10:00:00", "points": "10"}
OPEN = {"auth_code": "a" * 32, "template_id": "1", "request_id": "2" * 29}

# (op, body, the field the error must name)
CASES: list[tuple[str, dict[str, Any], str]] = [
    *[("sale.start", {**SALE, "amount": bad}, "amount")
      for bad in ("1e3", " 1", "1 ", "１", "١٠", "1_0", "+1", "01", "1.", ".5", "1.001", "NaN", "0", 9.9, 10, True)],
    *[("sale.start", {**SALE, "sale_id": bad}, "sale_id") for bad in ("a b", "a/b", "é", "F1\n", "x" * 65, 7)],
    ("sale.start", {**SALE, "code": "２８" + "1" * 16}, "code"),
    ("sale.start", {**SALE, "code": "²" * 18}, "code"),
    ("sale.start", {**SALE, "subject": "Till\x1b1"}, "subject"),
    ("sale.start", {**SALE, "operator_id": "Ann\n"}, "operator_id"),
    ("sale.start", {**{k: v for k, v in SALE.items() if k != "code"}, "scan_id": "scan 1"}, "scan_id"),
    *[("sale.start", {**SALE, "member_card_no": bad}, "member_card_no")
      for bad in ("LOTUS 1", "é", "LOTUS1\n", "L" * 33, "", 7)],
    ("sale.get", {"sale_id": "F1\n"}, "sale_id"),
    ("sale.cancel", {"sale_id": "é"}, "sale_id"),
    *[("loyalty.update", {**UPDATE, "update_id": bad}, "update_id") for bad in ("a b", "a/b", "é", "U1\n", "")],
    *[("loyalty.update", {**UPDATE, "points": bad}, "points") for bad in ("1e3", "-0", "１", "1_0", " 1", 10, True)],
    *[("loyalty.update", {**UPDATE, "point": bad}, "point") for bad in ("1e3", "-0", "１", 10, "11")],
    ("loyalty.update", {**UPDATE, "points_delta": "5"}, "points_delta"),
    *[("loyalty.update", {**UPDATE, "balance": bad}, "balance") for bad in ("-1", "1e2", "٨٨.٥٠", 88.5)],
    *[("loyalty.update", {**UPDATE, "delta": bad}, "delta") for bad in ("-0", "+5", "5e1")],
    ("loyalty.update", {**UPDATE, "card_no": "LOTUS 1"}, "card_no"),
    ("loyalty.update", {**UPDATE, "card_no": "é"}, "card_no"),
    ("loyalty.update", {**UPDATE, "occur_time": "２０２６-11-25 10:00:00"}, "occur_time"),
    ("loyalty.update", {**UPDATE, "occur_time": "2026-11-25 10:00:00\n"}, "occur_time"),
    ("loyalty.update", {**UPDATE, "level": "VIP\x001"}, "level"),
    ("loyalty.update", {**UPDATE, "reason": "buy\n#1"}, "reason"),
    ("member.lookup", {"card_no": "LOTUS0000000001\n"}, "card_no"),
    ("member.lookup", {"scan_id": "scan/1"}, "scan_id"),
    ("member.enroll", {"job_id": "E 1"}, "job_id"),
    ("member.enroll", {"job_id": "E1", "external_card_no": "C/1"}, "external_card_no"),
    ("member.open", {**OPEN, "auth_code": "a" * 31 + "\n"}, "auth_code"),
    ("member.open", {**OPEN, "request_id": 7}, "request_id"),
    ("print.text", {"job_id": "P1", "lines": ["\x1bp\x00\x19\xfa"]}, "lines"),  # a drawer kick in a line
    ("print.text", {"job_id": "P1", "lines": ["ok"], "cut": 1}, "cut"),
    ("print.qr", {"job_id": "P1", "data": "x", "title": "A\x1dV\x00"}, "title"),
    ("print.qr", {"job_id": "P 1", "data": "x"}, "job_id"),
    ("outbox.retry", {"id": 2**70}, "id"),
    ("outbox.retry", {"id": True}, "id"),
    ("outbox.retry", {"id": 1.0}, "id"),
    ("outbox.list", {"limit": True}, "limit"),
    ("outbox.list", {"state": "pending\n"}, "state"),
]  # fmt: skip


def test_every_malformed_field_is_refused_by_name_and_reaches_nothing(member_store: MemberStore) -> None:
    wrong: list[str] = []
    with member_store.daemon.ecr() as ecr:
        for op, body, field in CASES:
            try:
                ecr.request(op, body)
            except EcrError as exc:
                if exc.code != "BAD_REQUEST" or field not in exc.message:
                    wrong.append(f"{op} {body!r}: {exc.code} {exc.message}")
            else:
                wrong.append(f"{op} {body!r}: accepted")
        assert wrong == []
        assert ecr.request("outbox.list")["jobs"] == []
        assert ecr.request("status.get")["active_sale"] is None
    calls = member_store.gateway.gateway.inspect()["calls"]
    assert not {"alipay.trade.pay", "alipay.marketing.card.update", "alipay.marketing.card.query"} & set(calls)
    assert member_store.printer.jobs() == []


@pytest.mark.parametrize("amount", ["9.9", "0.01", "100000000"])
def test_documented_amounts_are_accepted(member_store: MemberStore, amount: str) -> None:
    with member_store.daemon.ecr() as ecr:
        sale = ecr.request("sale.start", {"sale_id": "OK1", "amount": amount, "subject": "Till 1"})["sale"]
        assert sale["amount"] == f"{float(amount):.2f}" and sale["state"] == "waiting_for_code"
        ecr.request("sale.cancel", {"sale_id": "OK1"})


def test_an_iso_occur_time_with_its_offset_is_taken_as_china_time(member_store: MemberStore) -> None:
    with member_store.daemon.ecr() as ecr:
        body = {**UPDATE, "update_id": "ISO1", "occur_time": "2026-11-25T03:00:00+01:00"}
        assert ecr.request("loyalty.update", body)["update"]["update_id"] == "ISO1"
        [job] = [j for j in ecr.request("outbox.list")["jobs"] if j["kind"] == "card.update"]
        assert ecr.request("loyalty.update", body)["update"]["update_id"] == "ISO1"  # a resend is the same update
        with pytest.raises(EcrError) as refused:
            ecr.request("loyalty.update", {**UPDATE, "update_id": "ISO2", "occur_time": "2026-11-25T10:00:00"})
        assert "without an offset" in refused.value.message and "characters" not in refused.value.message
    # What will reach Alipay: China time, the business time of the same moment.
    with Outbox.open(database_path(member_store.daemon.config.parent / "state"), check_integrity=False,
                     move_corrupt_aside=False) as outbox:  # fmt: skip
        queued = outbox.get(job["id"])
    assert queued.payload["occur_time"] == "2026-11-25 10:00:00"
    assert queued.business_time == datetime(2026, 11, 25, 2, 0, tzinfo=UTC).timestamp()
