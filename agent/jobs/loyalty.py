"""`card.update` jobs: new ABSOLUTE points/balance/level for one card, ordered and coalesced per card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.alipay import AlipayClient, AlipayError
from agent.alipay.apis import CardInfo, CardUpdate
from agent.alipay.envelope import CHINA_TIME, TIMESTAMP_FORMAT
from offline_queue import Done, Handler, Job, KindPolicy, Outbox, Outcome

from .outcomes import outcome_of

KIND = "card.update"
# Absolute values: for one card only the newest state matters, so the outbox coalesces by business time.
POLICY = KindPolicy(absolute=True)


@dataclass(frozen=True)
class LoyaltyUpdate:
    update_id: str
    card_no: str
    occur_time: str  # yyyy-MM-dd HH:mm:ss, China time: the business time of this state
    point: str | None = None
    balance: str | None = None
    level: str | None = None
    changed_point: str | None = None
    change_reason: str | None = None

    def business_time(self) -> float:
        return datetime.strptime(self.occur_time, TIMESTAMP_FORMAT).replace(tzinfo=CHINA_TIME).timestamp()

    def to_payload(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LoyaltyUpdate:
        return cls(**payload)


def enqueue(outbox: Outbox, update: LoyaltyUpdate) -> Job:
    return outbox.enqueue(KIND, update.to_payload(), idempotency_key=f"update:{update.update_id}",
                          ordering_key=update.card_no, business_time=update.business_time())  # fmt: skip


def handler(client: AlipayClient) -> Handler:
    async def send(job: Job) -> Outcome:
        update = LoyaltyUpdate.from_payload(job.payload)
        notify = tuple(t for t, v in (("POINT_UPDATE", update.point), ("BALANCE_UPDATE", update.balance),
                                      ("LEVEL_UPDATE", update.level)) if v is not None)  # fmt: skip
        request = CardUpdate(
            target_card_no=update.card_no, occur_time=update.occur_time,
            card_info=CardInfo(point=update.point, balance=update.balance, level=update.level),
            changed_point=update.changed_point, change_reason=update.change_reason,
            notify_types=notify if update.change_reason else (),
        )  # fmt: skip
        try:
            result = await client.execute(request)
        except AlipayError as exc:
            return outcome_of(exc)
        return Done({"result_code": result.result_code})

    return send
