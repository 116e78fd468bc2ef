"""The store's line drops: enrollment still prints (cached URL), a callback received offline opens the
card when the gateway returns, a slip printed offline opens one card, and a callback that waits
longer than the auth_code lives dies readably."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import zxingcpp
from PIL import Image

from hardware_sim.customer import open_card
from tests.support.daemon import Daemon, MemberStore, member_config, write_store_files


def printed_url(store: MemberStore, count: int) -> str:
    """The activation URL on the `count`-th slip, read back from the rendered PNG."""
    job = store.printer.wait_for_jobs(count, timeout=10)[count - 1]
    (url,) = [r.text for r in zxingcpp.read_barcodes(Image.open(Path(job.png)))]
    return url


def wait_cached_url(ecr_store: MemberStore) -> None:
    """The daemon applies for the template's URL at start; enrollment offline needs it cached."""
    import sqlite3

    db = ecr_store.daemon.config.parent / "state" / "agent.db"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT count(*) FROM member_activation_urls").fetchone()[0]:
                return
        time.sleep(0.2)
    raise AssertionError("the activation URL was never cached")


def test_enrollment_and_callback_while_the_gateway_is_down(member_store: MemberStore) -> None:
    wait_cached_url(member_store)
    gateway = member_store.gateway.gateway
    with member_store.daemon.ecr() as ecr:
        # A customer filled the form just before the line dropped.
        ecr.request("member.enroll", {"job_id": "E1"})
        online_url = printed_url(member_store, 1)
        result = open_card(online_url, mobile="13900003333", name="王芳", follow_callback=False)
        gateway.outage(8)
        ecr.request("member.enroll", {"job_id": "E2"})
        offline_url = printed_url(member_store, 2)
        assert "template_id=" in offline_url and "out_string" not in offline_url  # the cached URL
        answer = httpx.get(result.callback_url, timeout=10)  # the callback reaches the till, not Alipay
        assert answer.status_code == 200
        opened = ecr.wait_for("member.opened", timeout=40)["body"]
        assert opened["job_id"] == "E1" and opened["card_no"].startswith("LOTUS")
        # The slip printed offline still opens a card (not linked to E2: its QR cannot say), once.
        later = open_card(offline_url, mobile="13900005555", name="赵敏", follow_callback=True)
        assert later.callback_status == 200, later.callback_body
        unlinked = ecr.wait_for("member.opened", lambda b: b["job_id"] is None, timeout=40)["body"]
        assert unlinked["card_no"].startswith("LOTUS")
        again = open_card(offline_url, mobile="13900006666", name="钱伟", follow_callback=True)
        assert again.callback_status == 400 and "no slip printed offline" in again.callback_body


def test_an_outage_longer_than_the_auth_code_lifetime_fails_readably(tmp_path: Path, member_store: MemberStore) -> None:
    member_store.daemon.stop()
    config = write_store_files(tmp_path / "short", member_store.gateway.gateway.url,
                               member_store.gateway.gateway.alipay_public_key_pem, member_store.daemon.port,
                               member_config(member_store.template_id, member_store.printer.port,
                                             member_store.callback_port, lifetime=3.0))  # fmt: skip
    daemon = Daemon(config, member_store.daemon.port, tmp_path / "short.log")
    daemon.start()
    try:
        with daemon.ecr() as ecr:
            ecr.request("member.enroll", {"job_id": "L1"})
            url = printed_url(member_store, 1)
            result = open_card(url, mobile="13900004444", name="张伟", follow_callback=False)
            member_store.gateway.gateway.outage(10)
            assert httpx.get(result.callback_url, timeout=10).status_code == 200
            failed = ecr.wait_for("member.open_failed", timeout=40)["body"]
            assert failed["job_id"] == "L1" and "scan again" in failed["reason"]
    finally:
        daemon.stop()
