"""`card.authorize` jobs: exchange the customer's single-use auth_code for an access token.

The one step of opening a card that cannot be repeated: once Alipay has taken the auth_code, a
retry gets isv.code-invalid. So this job does only that exchange, then hands the token (sealed at
rest) to a `card.open` job, whose steps (form answers, card.open by out_serial_no) are all safe to
repeat. The job's lifetime is the auth_code's: after it the customer must scan the QR again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from agent.alipay import AlipayClient, AlipayError
from agent.alipay.apis import OAuthToken
from agent.members.open_card import derive_out_serial_no
from offline_queue import Done, Handler, Job, KindPolicy, Outbox, Outcome

from . import card_open
from .outcomes import outcome_of

KIND = "card.authorize"
EXPIRED_REASON = "the customer's authorisation expired before Alipay could be reached: ask the customer to scan again"
SENSITIVE = ("auth_code",)


def policy(auth_code_lifetime: float) -> KindPolicy:
    return KindPolicy(max_age=auth_code_lifetime, expired_reason=EXPIRED_REASON)


@dataclass(frozen=True)
class Authorization:
    auth_code: str
    template_id: str
    request_id: str
    out_string: str | None = None
    enrollment_id: str | None = None

    def __repr__(self) -> str:
        return f"Authorization(template_id={self.template_id!r}, request_id={self.request_id!r})"

    def to_payload(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def enqueue(outbox: Outbox, authorization: Authorization) -> Job:
    # One form submission = one job: a replayed callback returns the same job, a second card never.
    return outbox.enqueue(KIND, authorization.to_payload(),
                          idempotency_key=f"authorize:{authorization.template_id}:{authorization.request_id}",
                          sensitive=SENSITIVE)  # fmt: skip


def handler(client: AlipayClient, outbox: Outbox, card: Callable[[Authorization], dict[str, Any]]) -> Handler:
    """`card(authorization)` gives the new card's values (level, points, dates...) for card.open."""

    async def send(job: Job) -> Outcome:
        authorization = Authorization(**job.payload)
        try:
            token = await client.execute(OAuthToken(code=authorization.auth_code))
        except AlipayError as exc:
            return outcome_of(exc)
        order = card_open.CardOpenOrder(
            out_serial_no=derive_out_serial_no(authorization.template_id, authorization.request_id),
            template_id=authorization.template_id, auth_token=token.access_token, user_id=token.user_id,
            open_id=token.open_id, request_id=authorization.request_id, enrollment_id=authorization.enrollment_id,
            **card(authorization),
        )  # fmt: skip
        # The token exists only in this reply: store it durably before calling this job done.
        await asyncio.to_thread(card_open.enqueue, outbox, order)
        return Done({"out_serial_no": order.out_serial_no})

    return send
