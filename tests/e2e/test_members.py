"""Membership cards at the till through the socket: enroll (a slip that really scans), the customer's
callback, the card opened in the background, look-up, points kept in step, and bad callbacks refused."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import zxingcpp
from PIL import Image

from agent.ecr.client import EcrError
from hardware_sim.customer import open_card
from tests.support.daemon import MemberStore


def enroll_and_scan_slip(store: MemberStore, job_id: str) -> str:
    """member.enroll, wait for the slip, and decode the activation URL from the rendered PNG."""
    with store.daemon.ecr() as ecr:
        answer = ecr.request("member.enroll", {"job_id": job_id})
        assert answer["enrollment"]["out_string"].startswith(f"v1.SH01.T1.{job_id}.")  # store, till, job, MAC
        done = ecr.wait_for("print.updated", lambda b: b["job"]["state"] in ("printed", "failed"), timeout=20)
        assert done["body"]["job"]["state"] == "printed"
    job = store.printer.wait_for_jobs(1, timeout=10)[-1]
    (url,) = [r.text for r in zxingcpp.read_barcodes(Image.open(Path(job.png)))]
    return url


def test_enroll_callback_open_lookup_and_points(member_store: MemberStore) -> None:
    url = enroll_and_scan_slip(member_store, "E1")
    with member_store.daemon.ecr() as ecr:
        result = open_card(url, mobile="13900001111", name="李雷", follow_callback=True)
        assert result.callback_status == 200, result.error
        opened = ecr.wait_for("member.opened", timeout=30)["body"]
        assert opened["job_id"] == "E1"
        card_no = opened["card_no"]
        assert card_no.startswith("LOTUS")
        found = ecr.request("member.lookup", {"card_no": card_no})
        assert found["stale"] is False and found["member"]["point"] == "100" and found["member"]["level"] == "VIP1"
        update = ecr.request("loyalty.update", {"update_id": "U1", "card_no": card_no, "points": "180",
                                                "occur_time": "2026-11-25 10:00:00", "delta": "80",
                                                "reason": "purchase"})  # fmt: skip
        assert update["update"]["state"] == "pending"
        delivered = ecr.wait_for("loyalty.updated", lambda b: b["update_id"] == "U1", timeout=20)["body"]
        assert delivered["state"] == "done"
        stale = ecr.request("loyalty.update", {"update_id": "U0", "card_no": card_no, "points": "90",
                                               "occur_time": "2026-11-25 09:00:00"})  # fmt: skip
        assert stale["update"]["state"] == "superseded"  # older than what Alipay already has: never sent
    books = member_store.gateway.gateway.inspect()
    card = next(c for c in books["cards"] if c["biz_card_no"] == card_no)
    assert card["point"] == "180" and books["regressions"] == 0


def test_lookup_falls_back_to_the_cache_when_the_gateway_is_down(member_store: MemberStore) -> None:
    url = enroll_and_scan_slip(member_store, "E2")
    with member_store.daemon.ecr() as ecr:
        open_card(url, mobile="13900002222", name="韩梅梅", follow_callback=True)
        card_no = ecr.wait_for("member.opened", timeout=30)["body"]["card_no"]
        member_store.gateway.gateway.outage(30)
        found = ecr.request("member.lookup", {"card_no": card_no}, timeout=20)
        assert found["stale"] is True and found["member"]["card_no"] == card_no
        # The same fields as a fresh answer (docs/ecr-protocol.md): null where the value is not known.
        assert found["member"] == {"card_no": card_no, "level": "VIP1", "points": "100", "balance": None,
                                   "valid_date": None, "in_wallet": None, "point": "100"}  # fmt: skip
        # The till's newest values join the cache; an older update (superseded) never overwrites them.
        newer = {"update_id": "U2", "card_no": card_no, "points": "300", "balance": "8.50",
                 "occur_time": "2026-11-25 11:00:00"}  # fmt: skip
        older = {"update_id": "U3", "card_no": card_no, "points": "50", "occur_time": "2026-11-25 10:30:00"}
        assert ecr.request("loyalty.update", newer)["update"]["state"] == "pending"
        assert ecr.request("loyalty.update", older)["update"]["state"] == "superseded"
        cached = ecr.request("member.lookup", {"card_no": card_no}, timeout=20)
        assert cached["stale"] is True
        assert (cached["member"]["point"], cached["member"]["balance"], cached["member"]["level"]) == ("300", "8.50", "VIP1")
        with pytest.raises(EcrError) as unknown:
            ecr.request("member.lookup", {"card_no": "LOTUS9999999999"}, timeout=20)
        assert unknown.value.code == "NOT_FOUND"


def test_bad_callbacks_are_refused_and_queue_nothing(member_store: MemberStore) -> None:
    base = f"http://127.0.0.1:{member_store.callback_port}/alipay/open-card"
    good = {"auth_code": "a" * 32, "template_id": member_store.template_id, "request_id": "2" * 29}
    bad = [
        {k: v for k, v in good.items() if k != "auth_code"},  # missing
        {**good, "extra": "1"},  # extra parameter
        {**good, "app_id": "2099999999999999"},  # another app
        {**good, "template_id": "123"},  # another template
        {**good, "auth_code": "x" * 5000},  # huge
        {**good, "request_id": "1' OR '1'='1"},  # injection
        {**good, "auth_code": "<script>alert(1)</script>"},
    ]
    for params in bad:
        answer = httpx.get(f"{base}?{urlencode(params)}", timeout=10)
        assert answer.status_code in (400, 431), params
        assert "<script>" not in answer.text
    assert httpx.get(f"http://127.0.0.1:{member_store.callback_port}/other", timeout=10).status_code == 404
    with member_store.daemon.ecr() as ecr:
        with pytest.raises(EcrError) as relayed:
            ecr.request("member.open", {**good, "template_id": "999"})
        assert relayed.value.code == "BAD_REQUEST"
        with pytest.raises(EcrError) as unbound:  # names no slip this till printed
            ecr.request("member.open", good)
        assert unbound.value.code == "BAD_REQUEST" and "names no enrollment" in unbound.value.message
        assert ecr.request("outbox.list")["jobs"] == []
        # A callback for a slip this till printed is queued once; its replay is refused.
        good["out_string"] = ecr.request("member.enroll", {"job_id": "E9"})["enrollment"]["out_string"]
        first = ecr.request("member.open", good)
        assert first["open"]["state"] == "pending"
        with pytest.raises(EcrError) as replayed:
            ecr.request("member.open", good)
        assert replayed.value.code == "BAD_REQUEST" and "already received" in replayed.value.message
        # The sim never issued that auth_code: the job dies with a reason the cashier can act on.
        failed = ecr.wait_for("member.open_failed", timeout=30)["body"]
        assert "scan" in failed["reason"]
