"""Bar-code payments: scripted payment codes, polling, cancel, out_trade_no rules."""

from __future__ import annotations

from typing import Any

from hardware_sim.gateway import Behaviour, GatewaySimulator, example

from .conftest import FakeClock
from .oapi import TinyClient

PAY, QUERY, CANCEL = "alipay.trade.pay", "alipay.trade.query", "alipay.trade.cancel"


def pay_biz(out_trade_no: str, code: str, amount: str = "20.00", **extra: Any) -> dict[str, Any]:
    return {"out_trade_no": out_trade_no, "scene": "bar_code", "auth_code": code, "subject": "Coffee",
            "total_amount": amount, **extra}  # fmt: skip


def status(client: TinyClient, out_trade_no: str) -> str:
    return str(client.ok(QUERY, {"out_trade_no": out_trade_no})["trade_status"])


def test_an_ordinary_code_pays_at_once(client: TinyClient) -> None:
    node = client.ok(PAY, pay_biz("o1", example(Behaviour.PAID)))
    assert (node["code"], node["msg"], node["total_amount"], node["receipt_amount"]) == (
        "10000",
        "Success",
        "20.00",
        "20.00",
    )
    assert len(node["trade_no"]) == 28 and node["buyer_user_id"].startswith("2088")
    assert node["fund_bill_list"] == [{"amount": "20.00", "fund_channel": "ALIPAYACCOUNT"}]
    assert status(client, "o1") == "TRADE_SUCCESS"


def test_confirmation_code_waits_then_succeeds(timed: tuple[GatewaySimulator, TinyClient], clock: FakeClock) -> None:
    _, client = timed
    reply = client.call(PAY, pay_biz("o2", example(Behaviour.NEEDS_CONFIRMATION, confirm_after=30)))
    assert (reply.code, reply.node["msg"], reply.verified) == ("10003", " order success pay inprocess", True)
    assert "sub_code" not in reply.node and reply.node["receipt_amount"] == "0.00"
    assert status(client, "o2") == "WAIT_BUYER_PAY"
    clock.advance(29)
    assert status(client, "o2") == "WAIT_BUYER_PAY"
    clock.advance(2)
    node = client.ok(QUERY, {"out_trade_no": "o2"})
    assert (node["trade_status"], node["receipt_amount"]) == ("TRADE_SUCCESS", "20.00")


def test_declined_codes(client: TinyClient) -> None:
    balance = client.call(PAY, pay_biz("o3", example(Behaviour.BALANCE_NOT_ENOUGH)))
    assert (balance.code, balance.sub_code) == ("40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH")
    assert balance.node["buyer_pay_amount"] == "0.00" and balance.verified
    invalid = client.call(PAY, pay_biz("o4", example(Behaviour.CODE_INVALID)))
    assert invalid.sub_code == "ACQ.PAYMENT_AUTH_CODE_INVALID"
    not_a_code = client.call(PAY, pay_biz("o5", "1234567890123456"))
    assert not_a_code.sub_code == "ACQ.PAYMENT_AUTH_CODE_INVALID"
    assert client.call(QUERY, {"out_trade_no": "o4"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert status(client, "o3") == "TRADE_CLOSED"


def test_never_completing_code_waits_until_cancelled(
    timed: tuple[GatewaySimulator, TinyClient], clock: FakeClock
) -> None:
    sim, client = timed
    assert client.call(PAY, pay_biz("o6", example(Behaviour.NEVER_COMPLETES))).code == "10003"
    clock.advance(86400)
    assert status(client, "o6") == "WAIT_BUYER_PAY"
    node = client.ok(CANCEL, {"out_trade_no": "o6"})
    assert (node["action"], node["retry_flag"]) == ("close", "N")
    assert status(client, "o6") == "TRADE_CLOSED"
    trade = sim.inspect()["trades"][0]
    assert (trade["cancel_action"], trade["cancels"]) == ("close", 1)
    assert "1111" in trade["payment_code"] and "*" in trade["payment_code"]  # masked


def test_cancelling_a_paid_trade_refunds_it(client: TinyClient) -> None:
    client.ok(PAY, pay_biz("o7", example(Behaviour.PAID)))
    node = client.ok(CANCEL, {"out_trade_no": "o7"})
    assert (node["action"], node["retry_flag"]) == ("refund", "N")
    again = client.ok(CANCEL, {"out_trade_no": "o7"})
    assert again["action"] == "refund"
    assert status(client, "o7") == "TRADE_CLOSED"


def test_cancel_before_pay_blocks_a_late_pay(client: TinyClient) -> None:
    node = client.ok(CANCEL, {"out_trade_no": "o8"})
    assert node["retry_flag"] == "N" and "action" not in node
    late = client.call(PAY, pay_biz("o8", example(Behaviour.PAID)))
    assert late.sub_code == "ACQ.TRADE_HAS_CLOSE"


def test_out_trade_no_rules(client: TinyClient, sim: GatewaySimulator) -> None:
    code = example(Behaviour.PAID)
    client.ok(PAY, pay_biz("o9", code))
    same = client.call(PAY, pay_biz("o9", code))
    assert (same.code, same.sub_code) == ("40004", "ACQ.TRADE_HAS_SUCCESS")
    different = client.call(PAY, pay_biz("o9", code, amount="21.00"))
    assert different.sub_code == "ACQ.CONTEXT_INCONSISTENT"
    other_buyer = client.call(PAY, pay_biz("o9", example(Behaviour.PAID, length=20)))
    assert other_buyer.sub_code == "ACQ.TRADE_BUYER_NOT_MATCH"
    waiting_code = example(Behaviour.NEVER_COMPLETES)
    assert client.call(PAY, pay_biz("o10", waiting_code)).code == "10003"
    assert client.call(PAY, pay_biz("o10", waiting_code)).code == "10003"  # a retry of an unknown pay
    assert sim.inspect()["duplicates_absorbed"]["out_trade_no"] == 2
    assert len(sim.inspect()["trades"]) == 2


def test_pay_parameter_checks(client: TinyClient) -> None:
    code = example(Behaviour.PAID)
    missing = pay_biz("p1", code)
    del missing["subject"]
    assert client.call(PAY, missing).sub_code == "isv.invalid-parameter"
    assert client.call(PAY, pay_biz("p2", code, amount="0.00")).sub_code == "ACQ.INVALID_PARAMETER"
    assert client.call(PAY, pay_biz("p3", code, amount=20)).sub_code == "isv.invalid-parameter"  # type: ignore[arg-type]
    assert client.call(PAY, pay_biz("bad-no!", code)).sub_code == "ACQ.INVALID_PARAMETER"
    assert client.call(QUERY, {}).sub_code == "ACQ.INVALID_PARAMETER"


def test_query_by_trade_no(client: TinyClient) -> None:
    trade_no = client.ok(PAY, pay_biz("o11", example(Behaviour.PAID)))["trade_no"]
    assert client.ok(QUERY, {"trade_no": trade_no})["out_trade_no"] == "o11"
    missing = client.call(QUERY, {"out_trade_no": "ghost"})
    assert missing.node["out_trade_no"] == "ghost" and missing.node["receipt_amount"] == "0.00"
