"""Two tills update one card's points at once (docs/membership-walkthrough.md, "When two tills race"):
each update carries the total from the loyalty system of record and the time it changed; whatever order
the agent receives them in, Alipay ends with the newest `occur_time`'s total, and an older update is
never applied over a newer one."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

from agent.alipay import apis
from agent.ecr.client import EcrClient
from hardware_sim.customer import open_card
from tests.support.daemon import MemberStore

ROUNDS = 20


def one_card(store: MemberStore) -> str:
    async def run() -> str:
        async with store.gateway.client() as client:
            url = (await client.execute(apis.ActivateUrlApply(template_id=store.template_id))).url
            result = await asyncio.to_thread(open_card, url, mobile="13600000001", name="M1", follow_callback=False)
            token = await client.execute(apis.OAuthToken(code=result.params["auth_code"]))
            opened = await client.execute(apis.CardOpen(
                out_serial_no="race-1", card_template_id=store.template_id, auth_token=token.access_token,
                user_id=token.user_id, card_ext_info=apis.CardInfo(point="0", open_date="2026-11-01 00:00:00")))  # fmt: skip
            return opened.card_no

    return asyncio.run(run())


def test_two_tills_updating_one_card_at_once_end_with_the_newest_total(member_store: MemberStore) -> None:
    card_no = one_card(member_store)
    rng = random.Random(13)
    tills = [member_store.daemon.ecr(client="till-1"), member_store.daemon.ecr(client="till-2")]
    answers: dict[str, str] = {}
    for round_no in range(ROUNDS):
        # The loyalty system of record: till 1's purchase at :00 made the total 1000+r, till 2's at :01 made it
        # 2000+r (it includes till 1's). Either may reach the agent first; both are sent at once.
        stamp = f"2026-11-25 10:{round_no:02d}"
        older = {"update_id": f"R{round_no}-old", "card_no": card_no, "points": str(1000 + round_no),
                 "occur_time": f"{stamp}:00"}  # fmt: skip
        newer = {"update_id": f"R{round_no}-new", "card_no": card_no, "points": str(2000 + round_no),
                 "occur_time": f"{stamp}:01"}  # fmt: skip
        bodies = [older, newer] if rng.random() < 0.5 else [newer, older]
        start = threading.Barrier(2)

        def send(ecr: EcrClient, body: dict[str, Any], start: threading.Barrier) -> None:
            start.wait(timeout=10)
            answers[body["update_id"]] = ecr.request("loyalty.update", body, timeout=20)["update"]["state"]

        threads = [threading.Thread(target=send, args=(ecr, body, start)) for ecr, body in zip(tills, bodies, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert answers[newer["update_id"]] == "pending"  # the newest state is always taken
        assert answers[older["update_id"]] in ("pending", "superseded")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = tills[0].request("status.get")["outbox"]["counts"].get("card.update", {})
        if not counts.get("pending") and not counts.get("in_flight"):
            break
        time.sleep(0.2)
    for ecr in tills:
        ecr.close()
    books = member_store.gateway.gateway.inspect()
    card = next(c for c in books["cards"] if c["biz_card_no"] == card_no)
    assert card["point"] == str(2000 + ROUNDS - 1)  # the newest total, whatever the arrival order
    assert books["regressions"] == 0  # no older occur_time was ever applied after a newer one
    assert not counts.get("dead"), counts
    assert "superseded" in answers.values()  # some older update did arrive after its newer one
