"""The daemon's outbox policies: a payment reversal is never refused nor kept waiting by other work."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.daemon.app import outbox_policies
from agent.jobs import card_authorize, loyalty, reversals
from agent.jobs.card_authorize import Authorization
from agent.jobs.loyalty import LoyaltyUpdate
from offline_queue import Caps, Outbox, OutboxFull, create_key_file


def test_at_the_cap_a_reversal_is_accepted_first_in_line_and_a_points_update_is_refused_clearly(
    tmp_path: Path,
) -> None:
    box = Outbox.open(tmp_path / "agent.db", key_file=create_key_file(tmp_path / "outbox.key"),
                      policies=outbox_policies(300.0), caps=Caps(max_pending=30))  # fmt: skip
    for n in range(30):  # a flood of card openings fills the outbox
        card_authorize.enqueue(box, Authorization(auth_code=f"code{n}", template_id="2024", request_id=f"r{n}"))
    asyncio.run(reversals.OutboxReversals(box).enqueue_cancel(sale_id="S1", out_trade_no="SH01T1S1A1"))
    update = LoyaltyUpdate(update_id="U1", card_no="LOTUS1", occur_time="2026-11-25 10:00:00", point="10")
    with pytest.raises(OutboxFull, match=r"outbox full: 31 jobs pending, cap is 30; nothing was stored"):
        loyalty.enqueue(box, update)
    assert [job.kind for job in box.claim(2)] == [reversals.KIND, card_authorize.KIND]
    box.close()
