"""2,000 must-not-lose calls drain through the real OpenAPI client while the gateway misbehaves.

The simulated gateway answers 20% of calls with 20000, processes 10% and drops the response, and goes
dark for 20 seconds mid-drain. Afterwards its books must show every card in its newest state, no
points regression, and no card opened twice.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.alipay import AlipayClient, apis
from agent.jobs import card_open, loyalty
from agent.jobs.card_open import CardOpenOrder
from agent.jobs.loyalty import LoyaltyUpdate
from hardware_sim.customer import open_card
from offline_queue import Backoff, Dispatcher, KindPolicy, Outbox, State, create_key_file
from tests.support.gateway import Store, make_template

CARDS_FOR_UPDATES = 50
UPDATES = 1500
NEW_CARDS = 500
OUTAGE_SECONDS = 20.0
# Short backoff so the drain finishes within the test; the policy shape is the production one.
FAST = Backoff(base=0.05, factor=2.0, cap=2.0)


async def customer_orders(client: AlipayClient, template_id: str, count: int, prefix: str,
                          mobile_prefix: str) -> list[CardOpenOrder]:  # fmt: skip
    """`count` different customers (the gateway knows a customer by mobile number) fill the form."""
    url = (await client.execute(apis.ActivateUrlApply(template_id=template_id, callback="https://m.example/cb"))).url
    orders = []
    for i in range(count):
        result = await asyncio.to_thread(open_card, url, mobile=f"{mobile_prefix}{i:08d}", name=f"{prefix}{i}",
                                         follow_callback=False)  # fmt: skip
        token = await client.execute(apis.OAuthToken(code=result.params["auth_code"]))
        orders.append(CardOpenOrder(out_serial_no=f"{prefix}-{result.params['request_id']}", template_id=template_id,
                                    auth_token=token.access_token, user_id=token.user_id, point="0",
                                    member={"name": f"{prefix}{i}", "cell": f"{mobile_prefix}{i:08d}"}))  # fmt: skip
    return orders


def china(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.slow
async def test_two_thousand_jobs_survive_errors_drops_and_an_outage(tmp_path: Path, simulated_gateway: Store) -> None:
    gateway = simulated_gateway.gateway
    rng = random.Random(7)
    async with simulated_gateway.client() as client:
        template_id = await make_template(client)
        # Cards that exist before the drain, for the points updates.
        existing = []
        for order in await customer_orders(client, template_id, CARDS_FOR_UPDATES, "old", "137"):
            existing.append((await client.execute(apis.CardOpen(
                out_serial_no=order.out_serial_no, card_template_id=template_id, auth_token=order.auth_token,
                user_id=order.user_id, card_ext_info=apis.CardInfo(point="0")))).card_no)  # fmt: skip
        new_orders = await customer_orders(client, template_id, NEW_CARDS, "new", "138")

        key = tmp_path / "outbox.key"
        create_key_file(key)
        outbox = Outbox.open(tmp_path / "agent.db", key_file=key, policies={
            loyalty.KIND: KindPolicy(absolute=True, backoff=FAST), card_open.KIND: KindPolicy(backoff=FAST)})  # fmt: skip
        base = datetime(2026, 11, 25, 9, 0, 0)
        newest: dict[str, tuple[datetime, str]] = {}
        updates = []
        for i in range(UPDATES):
            card_no = existing[i % CARDS_FOR_UPDATES]
            when = base + timedelta(seconds=rng.randrange(0, 36_000))
            points = str(rng.randrange(0, 100_000))
            updates.append(LoyaltyUpdate(update_id=f"u{i}", card_no=card_no, occur_time=china(when), point=points))
            if card_no not in newest or when > newest[card_no][0]:
                newest[card_no] = (when, points)
        jobs: list[Any] = []
        for item in rng.sample(updates + new_orders, len(updates) + len(new_orders)):
            if isinstance(item, LoyaltyUpdate):
                jobs.append(loyalty.enqueue(outbox, item))
            else:
                jobs.append(card_open.enqueue(outbox, item))

        gateway.set_faults(error_rate=0.2, drop_rate=0.1, seed=11)
        dispatcher = Dispatcher(outbox, {loyalty.KIND: loyalty.handler(client), card_open.KIND: card_open.handler(client)},
                                concurrency=8)  # fmt: skip
        drain = asyncio.create_task(dispatcher.run_until_idle())
        await asyncio.sleep(1.0)
        gateway.outage(OUTAGE_SECONDS)
        await asyncio.sleep(OUTAGE_SECONDS + 0.5)
        dispatcher.wake()  # what the connectivity monitor does when the line is back
        await asyncio.wait_for(drain, timeout=240)
        while outbox.stats().oldest_pending_age is not None:  # jobs still backing off
            await asyncio.sleep(0.5)
            await asyncio.wait_for(dispatcher.run_until_idle(), timeout=120)

    books = gateway.inspect()
    cards = {c["biz_card_no"]: c for c in books["cards"]}
    assert books["faults_injected"], "the faults must actually have fired"
    assert books["regressions"] == 0
    assert books["duplicates_absorbed_total"] > 0, "dropped replies must have been re-sent and absorbed"
    assert len(cards) == CARDS_FOR_UPDATES + NEW_CARDS, "a card was opened twice or not at all"
    for card_no, (_, points) in newest.items():
        assert cards[card_no]["point"] == points, f"{card_no} is not in its newest state"
    opened = {outbox.get(j.id).result["card_no"] for j in jobs if j.kind == card_open.KIND}
    assert len(opened) == NEW_CARDS
    states = {outbox.get(j.id).state for j in jobs}
    assert states <= {State.DONE, State.SUPERSEDED}
    outbox.close()
