"""The README's journey as a test: the whole store from the public commands, the agent only through its
socket, the customer only through the slip's rendered PNG."""

from __future__ import annotations

from pathlib import Path

from demo.store import build_store, journey


def test_enroll_open_recognise_pay_and_earn_points(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store")
    try:
        result = journey(store)
    finally:
        store.stop()
    assert result.card_no.startswith("LOTUS")
    assert result.sale["state"] == "succeeded" and result.sale["member_card_no"] == result.card_no
    assert result.points == "138"  # 100 on opening + 38 for the purchase
    assert result.slip_png.is_file()
    log = (tmp_path / "store" / "logs" / "agent.log").read_text()
    assert "281012345678901234" not in log and "13800138000" not in log  # no payment code or phone in logs
