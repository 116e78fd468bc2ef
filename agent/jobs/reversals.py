"""`trade.cancel` jobs: a payment reversal the till could not deliver, retried until Alipay confirms.

Alipay accepts a cancel within 24 hours of the trade; a job still undelivered then dies and is shown
to a person (dead letters stay visible and retryable).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agent.alipay import AlipayClient, AlipayError
from agent.alipay.apis import TradeCancel
from agent.sales.machine import REVERSAL_WINDOW_SECONDS
from offline_queue import Done, Handler, Job, KindPolicy, Outbox, Outcome, RetryLater

from .outcomes import outcome_of

log = logging.getLogger(__name__)

KIND = "trade.cancel"
POLICY = KindPolicy(max_age=float(REVERSAL_WINDOW_SECONDS),
                    expired_reason="the payment could not be reversed within 24 hours: refund it by hand")  # fmt: skip


class OutboxReversals:
    """The payment service's `ReversalQueue`, backed by the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def enqueue_cancel(self, *, sale_id: str, out_trade_no: str) -> None:
        # Off the event loop: a durable enqueue waits for an fsync.
        await asyncio.to_thread(self.outbox.enqueue, KIND, {"sale_id": sale_id, "out_trade_no": out_trade_no},
                                idempotency_key=f"cancel:{out_trade_no}")  # fmt: skip


def handler(client: AlipayClient, confirmed: Callable[[str, str | None], None]) -> Handler:
    """`confirmed(sale_id, action)` ends the sale once Alipay answered close or refund."""

    async def send(job: Job) -> Outcome:
        sale_id, out_trade_no = job.payload["sale_id"], job.payload["out_trade_no"]
        try:
            result = await client.execute(TradeCancel(out_trade_no=out_trade_no))
        except AlipayError as exc:
            return outcome_of(exc)
        if result.should_retry:
            return RetryLater("Alipay asked to call cancel again (retry_flag=Y)")
        try:
            confirmed(sale_id, result.action)
        except Exception:  # the trade is reversed either way; a bookkeeping bug must not resend it
            log.exception("recording the reversal of sale %s failed", sale_id)
        return Done({"action": result.action})

    return send
