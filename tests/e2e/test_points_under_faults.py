"""500 points updates for 50 cards, business times shuffled, the agent killed twice mid-way, the gateway
answering 20% errors and dropping 10% of replies: every card ends in its newest state, none regresses."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta

from agent.alipay import apis
from agent.ecr.client import EcrClient, EcrError
from hardware_sim.customer import open_card
from tests.support.daemon import MemberStore

CARDS = 50
UPDATES = 500
KILL_AFTER = (170, 340)


def open_cards(store: MemberStore) -> list[str]:
    async def run() -> list[str]:
        async with store.gateway.client() as client:
            url = (await client.execute(apis.ActivateUrlApply(template_id=store.template_id))).url
            cards = []
            for i in range(CARDS):
                result = await asyncio.to_thread(open_card, url, mobile=f"136{i:08d}", name=f"M{i}",
                                                 follow_callback=False)  # fmt: skip
                token = await client.execute(apis.OAuthToken(code=result.params["auth_code"]))
                opened = await client.execute(apis.CardOpen(
                    out_serial_no=f"pts-{i}", card_template_id=store.template_id, auth_token=token.access_token,
                    user_id=token.user_id, card_ext_info=apis.CardInfo(point="0", open_date="2026-11-01 00:00:00")))  # fmt: skip
                cards.append(opened.card_no)
            return cards

    return asyncio.run(run())


def send(ecr: EcrClient, body: dict[str, str]) -> None:
    for _ in range(3):
        try:
            ecr.request("loyalty.update", body, timeout=20)
            return
        except EcrError as exc:
            if not exc.retryable:
                raise


def test_points_survive_faults_and_two_kills(member_store: MemberStore) -> None:
    cards = open_cards(member_store)
    rng = random.Random(5)
    base = datetime(2026, 11, 25, 8, 0, 0)
    updates, newest = [], {}
    for i in range(UPDATES):
        card = cards[i % CARDS]
        when = base + timedelta(seconds=rng.randrange(36_000))
        points = str(rng.randrange(100_000))
        updates.append({"update_id": f"u{i}", "card_no": card, "points": points,
                        "occur_time": when.strftime("%Y-%m-%d %H:%M:%S")})  # fmt: skip
        if card not in newest or when > newest[card][0]:
            newest[card] = (when, points)
    rng.shuffle(updates)
    member_store.gateway.gateway.set_faults(error_rate=0.2, drop_rate=0.1, seed=3)
    daemon = member_store.daemon
    ecr = daemon.ecr()
    for index, body in enumerate(updates):
        if index in KILL_AFTER:
            ecr.close()
            daemon.kill()
            daemon.start()
            ecr = daemon.ecr()
            send(ecr, updates[index - 1])  # the ECR resends what it is unsure of: idempotent
        send(ecr, body)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counts = ecr.request("status.get")["outbox"]["counts"].get("card.update", {})
        if not counts.get("pending") and not counts.get("in_flight"):
            break
        time.sleep(0.5)
    ecr.close()
    books = member_store.gateway.gateway.inspect()
    assert books["faults_injected"]
    assert books["regressions"] == 0
    by_card = {c["biz_card_no"]: c for c in books["cards"]}
    for card, (_, points) in newest.items():
        assert by_card[card]["point"] == points, f"{card} is not in its newest state"
    assert not counts.get("dead"), counts
