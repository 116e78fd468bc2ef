"""`card.open` jobs: open the customer's card once the form is answered and the token obtained.

The job carries the customer's access token and form answers, encrypted at rest (the outbox seals the
`sensitive` fields with AES-GCM). `out_serial_no` is Alipay's idempotency key: a job re-sent after a
lost reply gets the same card back, never a second one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent.alipay import AlipayClient, AlipayError
from agent.alipay.apis import ActivateFormQuery, CardInfo, CardOpen, MemberInfo
from agent.members.open_card import member_info_from_form
from offline_queue import Done, Handler, Job, KindPolicy, Outbox, Outcome

from .outcomes import outcome_of

KIND = "card.open"
# The customer's access token outlives the auth_code (15 days), but a customer at the till expects
# the card within the day; after that the job dies with a reason the cashier can act on.
POLICY = KindPolicy(max_age=24 * 3600.0, expired_reason="the card could not be opened in time: ask the customer to "
                    "scan the activation QR again")  # fmt: skip
SENSITIVE = ("auth_token", "member")


@dataclass(frozen=True)
class CardOpenOrder:
    out_serial_no: str
    template_id: str
    auth_token: str
    user_id: str | None = None
    open_id: str | None = None
    external_card_no: str | None = None
    level: str | None = None
    point: str | None = None
    balance: str | None = None
    open_date: str | None = None
    valid_date: str | None = None
    member: dict[str, str] | None = None  # name, cell, gender, birth
    request_id: str | None = None  # the form submission: its answers are fetched when `member` is absent
    enrollment_id: str | None = None

    def __repr__(self) -> str:
        return f"CardOpenOrder(out_serial_no={self.out_serial_no!r}, template_id={self.template_id!r})"

    def to_payload(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def enqueue(outbox: Outbox, order: CardOpenOrder) -> Job:
    payload = order.to_payload()
    return outbox.enqueue(KIND, payload, idempotency_key=f"open:{order.out_serial_no}",
                          sensitive=[f for f in SENSITIVE if f in payload])  # fmt: skip


def handler(client: AlipayClient) -> Handler:
    async def send(job: Job) -> Outcome:
        order = CardOpenOrder(**job.payload)
        member = MemberInfo(**order.member) if order.member else None
        if member is None and order.request_id:
            # Read-only with the customer's token: safe to repeat on every retry.
            try:
                form = await client.execute(ActivateFormQuery(template_id=order.template_id,
                                                              request_id=order.request_id,
                                                              auth_token=order.auth_token))  # fmt: skip
            except AlipayError as exc:
                return outcome_of(exc)
            member = member_info_from_form(form.answers)
        request = CardOpen(
            out_serial_no=order.out_serial_no, card_template_id=order.template_id, auth_token=order.auth_token,
            user_id=order.user_id, open_id=order.open_id, member_ext_info=member,
            card_ext_info=CardInfo(external_card_no=order.external_card_no, level=order.level, point=order.point,
                                   balance=order.balance, open_date=order.open_date, valid_date=order.valid_date),
        )  # fmt: skip
        try:
            opened = await client.execute(request)
        except AlipayError as exc:
            return outcome_of(exc)
        return Done({"card_no": opened.card_no, "enrollment_id": order.enrollment_id,
                     "level": opened.card_info.level or order.level, "point": opened.card_info.point or order.point,
                     "balance": opened.card_info.balance or order.balance})  # fmt: skip

    return send
