"""The payment state machine: every path ends paid, declined or cancelled; none stays open."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.sales.machine import (
    FINAL_STATES,
    OPEN_TRADE_STATES,
    QueryOutcome,
    Sale,
    SaleState,
    after_query,
    begin_payment,
    cancel_requested,
    decline_reason,
    declined,
    out_trade_no,
    paid,
    reversed_,
    start_reversal,
    waiting_for_buyer,
)


def new_sale() -> Sale:
    return Sale(sale_id="A-1001", amount="9.90", subject="Till 1", state=SaleState.WAITING_FOR_CODE, created_at=0)


def paying(now: float = 0.0) -> Sale:
    return begin_payment(new_sale(), store_id="SH01", till_id="T1", now=now, deadline_seconds=60)


def test_each_attempt_gets_a_new_valid_out_trade_no() -> None:
    first = paying()
    assert first.state is SaleState.PAYING
    assert first.out_trade_no is not None
    assert first.out_trade_no.startswith("SH01_T1_A1001") and first.out_trade_no.endswith("_1")
    second = begin_payment(declined(first, "ACQ.PAYMENT_AUTH_CODE_INVALID", "x"), store_id="SH01", till_id="T1",
                           now=5, deadline_seconds=60)  # fmt: skip
    assert second.attempt == 2 and second.out_trade_no != first.out_trade_no


@given(st.text(min_size=1, max_size=100))
def test_out_trade_no_is_always_acceptable_to_alipay(sale_id: str) -> None:
    number = out_trade_no("SH01", "T1", sale_id, 3)
    assert len(number) <= 64
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in number)


def test_distinct_sale_ids_never_share_an_out_trade_no() -> None:
    assert out_trade_no("S", "T", "a-1", 1) != out_trade_no("S", "T", "a1", 1)
    assert out_trade_no("S", "T", "x" * 30 + "1", 1) != out_trade_no("S", "T", "x" * 30 + "2", 1)


def test_paid_at_once() -> None:
    assert paid(paying(), "2024").state is SaleState.SUCCEEDED


def test_declined_carries_the_sub_code_and_a_cashier_reason() -> None:
    sale = declined(paying(), "ACQ.BUYER_BALANCE_NOT_ENOUGH", decline_reason("ACQ.BUYER_BALANCE_NOT_ENOUGH", None))
    assert sale.state is SaleState.FAILED and "balance" in (sale.reason or "")


def test_buyer_confirms_while_we_poll() -> None:
    sale = waiting_for_buyer(paying(), now=1)
    assert sale.state is SaleState.WAITING_BUYER and sale.next_query_at == 5
    sale = after_query(sale, "WAIT_BUYER_PAY", now=5)
    assert sale.state is SaleState.WAITING_BUYER and sale.next_query_at == 9
    assert after_query(sale, "TRADE_SUCCESS", now=9, trade_no="T9").state is SaleState.SUCCEEDED


def test_not_paid_by_the_deadline_is_reversed_then_cancelled() -> None:
    sale = after_query(waiting_for_buyer(paying(), now=1), "WAIT_BUYER_PAY", now=60)
    assert sale.state is SaleState.REVERSING
    done = reversed_(sale, "close")
    assert done.state is SaleState.CANCELLED and not done.refunded


def test_a_cancel_that_finds_the_trade_paid_refunds_it() -> None:
    done = reversed_(start_reversal(paying(), "unknown outcome"), "refund")
    assert done.refunded and "refunded" in (done.reason or "")


def test_ecr_cancel_before_the_code_needs_no_call_and_after_it_reverses() -> None:
    assert cancel_requested(new_sale()).state is SaleState.CANCELLED
    flagged = cancel_requested(waiting_for_buyer(paying(), now=1))
    assert flagged.state is SaleState.WAITING_BUYER and flagged.cancel_requested
    assert after_query(flagged, "WAIT_BUYER_PAY", now=5).state is SaleState.REVERSING
    # Paid while the till was cancelling: the money goes back (trade.cancel refunds a paid trade).
    refunding = after_query(flagged, "TRADE_SUCCESS", now=5)
    assert refunding.state is SaleState.REVERSING
    assert reversed_(refunding, "refund").refunded


def test_closed_at_alipay_is_a_failed_sale() -> None:
    assert after_query(waiting_for_buyer(paying(), now=1), "TRADE_CLOSED", now=5).state is SaleState.FAILED


@given(st.lists(st.sampled_from(["WAIT_BUYER_PAY", None, "TRADE_SUCCESS", "TRADE_CLOSED", "cancel"]), max_size=40))
def test_polling_always_ends_by_the_deadline(answers: list[str | None]) -> None:
    sale = waiting_for_buyer(paying(), now=0)
    now = 0.0
    for answer in answers:
        if sale.state is not SaleState.WAITING_BUYER:
            break
        now += 4
        sale = cancel_requested(sale) if answer == "cancel" else after_query(sale, answer, now)
    while sale.state is SaleState.WAITING_BUYER:
        now += 4
        sale = after_query(sale, "WAIT_BUYER_PAY", now)
    assert now <= 64
    assert sale.state in FINAL_STATES | {SaleState.REVERSING}
    if sale.state is SaleState.REVERSING:
        assert reversed_(sale, "close").state is SaleState.CANCELLED
    assert SaleState.REVERSING in OPEN_TRADE_STATES


# --- the reason the cashier reads is the true one ---------------------------------------------------


def test_no_answer_while_alipay_is_unreachable_reverses_at_once_and_says_so() -> None:
    waiting = waiting_for_buyer(paying(), now=1)
    sale = after_query(waiting, None, now=2, outcome=QueryOutcome.UNREACHABLE)
    assert sale.state is SaleState.REVERSING  # long before the 60 s deadline
    assert sale.reason is not None and "unreachable" in sale.reason and "another payment" in sale.reason
    done = reversed_(sale, None)
    assert done.reason == "Alipay was unreachable, so the payment was cancelled"
    assert reversed_(sale, "refund").reason == "Alipay was unreachable, so the payment was cancelled; payment refunded"


def test_an_answered_query_keeps_waiting_even_when_a_later_one_fails() -> None:
    waiting = waiting_for_buyer(paying(), now=1)
    assert after_query(waiting, None, now=2, outcome=QueryOutcome.NO_ANSWER).state is SaleState.WAITING_BUYER


def test_the_deadline_reason_depends_on_whether_alipay_answered() -> None:
    waiting = waiting_for_buyer(paying(), now=1)
    silent = after_query(waiting, None, now=61, outcome=QueryOutcome.NO_ANSWER)
    assert silent.state is SaleState.REVERSING and "did not answer" in (silent.reason or "")
    assert reversed_(silent, "close").reason == "Alipay did not answer in time, so the payment was cancelled"
    unconfirmed = after_query(waiting, "WAIT_BUYER_PAY", now=61)
    assert reversed_(unconfirmed, "close").reason == "the customer did not confirm in time"
    assert reversed_(after_query(waiting, None, now=61), None).reason == (
        "Alipay has no record of this payment: no money was taken"
    )


def test_a_till_cancel_wins_over_any_other_cause() -> None:
    flagged = cancel_requested(waiting_for_buyer(paying(), now=1))
    sale = after_query(flagged, None, now=2, outcome=QueryOutcome.UNREACHABLE)
    assert sale.state is SaleState.REVERSING and sale.reversal_cause is None
    assert reversed_(sale, "close").reason == "cancelled at the till"
