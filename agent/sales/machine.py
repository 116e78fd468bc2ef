"""The bar-code payment state machine, sans I/O: what a sale is, and what to do next.

    waiting_for_code -> paying -> succeeded
                              -> failed                    (declined: a definite answer)
                              -> waiting_buyer -> succeeded
                                               -> reversing -> cancelled   (deadline or ECR cancel)
    waiting_for_code -> cancelled

Every state is persisted by the shell BEFORE the call it leads to, so a restart knows whether a
trade may exist: `paying`, `waiting_buyer` and `reversing` all mean "a trade may be open at Alipay"
and resume by querying or cancelling; none is ever left unresolved.

The functions here take the current sale and an outcome and return the next sale; the shell
(`agent.sales.service`) makes the calls and owns the clock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

QUERY_INTERVAL_SECONDS = 4.0  # inside Alipay's recommended 3-6 s
DEFAULT_PAY_DEADLINE_SECONDS = 60.0
REVERSAL_WINDOW_SECONDS = 24 * 3600  # trade.cancel only works within 24 h of creation


class SaleState(StrEnum):
    WAITING_FOR_CODE = "waiting_for_code"
    PAYING = "paying"
    WAITING_BUYER = "waiting_buyer"
    REVERSING = "reversing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({SaleState.SUCCEEDED, SaleState.FAILED, SaleState.CANCELLED})
# A trade may exist at Alipay in these states: after a restart they must be driven to an end.
OPEN_TRADE_STATES = frozenset({SaleState.PAYING, SaleState.WAITING_BUYER, SaleState.REVERSING})


@dataclass(frozen=True)
class Sale:
    sale_id: str
    amount: str
    subject: str
    state: SaleState
    created_at: float
    attempt: int = 0
    out_trade_no: str | None = None
    trade_no: str | None = None
    store_id: str | None = None
    operator_id: str | None = None
    pay_started_at: float | None = None
    deadline_at: float | None = None
    next_query_at: float | None = None
    reason: str | None = None  # cashier-readable: why a sale failed, is being reversed, or was cancelled
    sub_code: str | None = None
    refunded: bool = False
    cancel_requested: bool = False
    member_card_no: str | None = None
    # Who attached it: "till" (named on sale.start: it stays) or "scanner" (the last member-card scan
    # during the sale). See docs/ecr-protocol.md, sale.start.
    member_card_source: str | None = None
    # Why the trade is being reversed when the till did not ask: "deadline", "no_answer" (Alipay never
    # answered the last query) or "outage" (Alipay judged unreachable). It decides the reason shown.
    reversal_cause: str | None = None
    history: tuple[str, ...] = field(default_factory=tuple)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


_ID_CHARS = re.compile(r"[^A-Za-z0-9]")


def out_trade_no(store_id: str, till_id: str, sale_id: str, attempt: int) -> str:
    """Unique per store, till, sale and attempt; only letters, digits and underscores; <= 64 chars.

    The sale id is the ECR's and may hold any characters: it is reduced to letters and digits and,
    when that is lossy or long, suffixed with a short hash so two sale ids never collide.
    """
    clean = _ID_CHARS.sub("", sale_id)
    if clean != sale_id or len(clean) > 24:
        digest = hashlib.sha256(sale_id.encode("utf-8")).hexdigest()[:10]
        clean = f"{clean[:14]}{digest}"
    return f"{store_id}_{till_id}_{clean}_{attempt}"[:64]


def _moved(sale: Sale, state: SaleState, note: str, **changes: object) -> Sale:
    return replace(sale, state=state, history=(*sale.history, f"{state.value}: {note}"), **changes)  # type: ignore[arg-type]


def begin_payment(sale: Sale, *, store_id: str, till_id: str, now: float, deadline_seconds: float) -> Sale:
    """The code is known: a new attempt with a new out_trade_no (persist this before trade.pay)."""
    attempt = sale.attempt + 1
    number = out_trade_no(store_id, till_id, sale.sale_id, attempt)
    return _moved(sale, SaleState.PAYING, f"trade.pay {number}", attempt=attempt, out_trade_no=number,
                  pay_started_at=now, deadline_at=now + deadline_seconds, reason=None, sub_code=None)  # fmt: skip


def paid(sale: Sale, trade_no: str | None) -> Sale:
    if sale.cancel_requested:
        # The cashier abandoned the sale while the customer paid: give the money back (cancel refunds).
        return start_reversal(replace(sale, trade_no=trade_no or sale.trade_no), "paid after the till cancelled")
    return _moved(sale, SaleState.SUCCEEDED, "paid", trade_no=trade_no or sale.trade_no, next_query_at=None,
                  reason=None)  # fmt: skip


def declined(sale: Sale, sub_code: str | None, reason: str) -> Sale:
    return _moved(sale, SaleState.FAILED, f"declined {sub_code or ''}".strip(), sub_code=sub_code, reason=reason,
                  next_query_at=None)  # fmt: skip


def waiting_for_buyer(
    sale: Sale, now: float, trade_no: str | None = None, note: str = "waiting",
    interval: float = QUERY_INTERVAL_SECONDS,
) -> Sale:  # fmt: skip
    """10003, or an unknown outcome: poll trade.query until paid, closed or the deadline."""
    if sale.cancel_requested:
        return start_reversal(sale, "cancel requested by the ECR")
    return _moved(sale, SaleState.WAITING_BUYER, note, trade_no=trade_no or sale.trade_no,
                  next_query_at=now + interval)  # fmt: skip


class QueryOutcome(StrEnum):
    """What one trade.query told, beyond the trade status."""

    ANSWERED = "answered"  # Alipay answered (a status, or "no such trade yet")
    NO_ANSWER = "no_answer"  # the query got no verified answer; the line may be fine
    UNREACHABLE = "unreachable"  # no answer, and Alipay is judged unreachable right now


# While the trade is being reversed, and once it is, the cashier reads one of these.
REVERSING_REASONS = {
    "deadline": "the customer did not confirm in time: cancelling the payment (refunded if it was taken)",
    "no_answer": "Alipay did not answer, so the payment could not be confirmed: cancelling it (refunded if it "
    "was taken); take another payment method",
    "outage": "Alipay is unreachable, so the payment could not be confirmed: it is cancelled automatically "
    "(refunded if it was taken) once Alipay answers; take another payment method",
}
CANCELLED_REASONS = {
    "deadline": "the customer did not confirm in time",
    "no_answer": "Alipay did not answer in time, so the payment was cancelled",
    "outage": "Alipay was unreachable, so the payment was cancelled",
}


def after_query(
    sale: Sale, trade_status: str | None, now: float, trade_no: str | None = None, *,
    interval: float = QUERY_INTERVAL_SECONDS, outcome: QueryOutcome = QueryOutcome.ANSWERED,
) -> Sale:  # fmt: skip
    """Decide from a trade.query answer (status None: the query failed or the trade is not there yet).

    Alipay unreachable: waiting is pointless and keeps the cashier in the dark, so the trade is
    reversed at once; the cancel waits in the outbox until Alipay answers, refunding it if it was paid.
    """
    if trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        return paid(sale, trade_no)
    if trade_status == "TRADE_CLOSED":
        return _moved(sale, SaleState.FAILED, "closed at Alipay", reason="the payment was closed; take it again",
                      next_query_at=None)  # fmt: skip
    if sale.cancel_requested:
        return start_reversal(sale, "cancel requested by the ECR")
    if trade_status is None and outcome is QueryOutcome.UNREACHABLE:
        return start_reversal(sale, "Alipay unreachable", cause="outage")
    if sale.deadline_at is not None and now >= sale.deadline_at:
        cause = "deadline" if outcome is QueryOutcome.ANSWERED else "no_answer"
        return start_reversal(sale, "not paid before the deadline", cause=cause)
    return replace(sale, next_query_at=now + interval, trade_no=trade_no or sale.trade_no)


def start_reversal(sale: Sale, note: str, *, cause: str | None = None) -> Sale:
    """Cancel the trade immediately after the last query (persist this before trade.cancel)."""
    if sale.cancel_requested:
        cause = None
    reason = REVERSING_REASONS.get(cause or "", "cancelling the payment at Alipay (refunded if it was taken)")
    return _moved(sale, SaleState.REVERSING, note, next_query_at=None, reversal_cause=cause, reason=reason)


def reversed_(sale: Sale, action: str | None) -> Sale:
    """trade.cancel answered: `close` (was unpaid), `refund` (was paid), or nothing (no such trade)."""
    refunded = action == "refund"
    if sale.cancel_requested:
        reason = "cancelled at the till" + (" (the customer's payment was refunded)" if refunded else "")
    elif action is None and sale.reversal_cause in (None, "deadline"):
        # Alipay answered every query and the cancel found no trade: the payment never got there.
        reason = "Alipay has no record of this payment: no money was taken"
    else:
        base = CANCELLED_REASONS.get(sale.reversal_cause or "", CANCELLED_REASONS["deadline"])
        reason = base + ("; payment refunded" if refunded else "")
    return _moved(sale, SaleState.CANCELLED, f"trade.cancel action={action}", refunded=refunded, reason=reason)


def cancel_requested(sale: Sale) -> Sale:
    """The ECR asked to cancel. Before any trade: done at once. With a trade in play: reverse it."""
    if sale.state is SaleState.WAITING_FOR_CODE:
        return _moved(sale, SaleState.CANCELLED, "cancelled before payment", reason="cancelled at the till",
                      cancel_requested=True)  # fmt: skip
    return replace(sale, cancel_requested=True)


# Cashier-readable reasons for the declines a till sees most.
DECLINE_REASONS = {
    "ACQ.BUYER_BALANCE_NOT_ENOUGH": "the customer's balance is not enough: ask for another payment method",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": "the customer's bank card balance is not enough",
    "ACQ.PAYMENT_AUTH_CODE_INVALID": "the payment code is invalid or expired: ask the customer to refresh it",
    "ACQ.TRADE_HAS_CLOSE": "this payment was closed: start the payment again",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR": "the customer reached the daily payment limit",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR": "the customer reached the monthly payment limit",
    "ACQ.PAYMENT_REQUEST_HAS_RISK": "Alipay refused this payment for risk reasons: take another payment method",
    "ACQ.BUYER_ENABLE_STATUS_FORBID": "the customer's account cannot pay: take another payment method",
    "ACQ.TOTAL_FEE_EXCEED": "the amount exceeds the limit",
}


def decline_reason(sub_code: str | None, sub_msg: str | None) -> str:
    if sub_code and sub_code in DECLINE_REASONS:
        return DECLINE_REASONS[sub_code]
    return f"payment declined: {sub_msg or sub_code or 'no reason given'}"
