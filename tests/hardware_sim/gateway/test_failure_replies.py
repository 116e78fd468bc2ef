"""Every failure reply carries only the fields the reference lists for it (reference §2.1, §3.11-3.13).

trade.pay and trade.query failures (40004) add the four zero amounts and the `out_trade_no` sent,
like the real captures; never `total_amount`, `trade_no` or buyer fields. Every other failure is
`code`, `msg`, `sub_code`, `sub_msg` and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from hardware_sim.gateway import Behaviour, example

from .conftest import make_template
from .oapi import TinyClient

PAY, QUERY, CANCEL = "alipay.trade.pay", "alipay.trade.query", "alipay.trade.cancel"
ERROR_FIELDS = {"code", "msg", "sub_code", "sub_msg"}
FAILED_TRADE_FIELDS = ERROR_FIELDS | {"buyer_pay_amount", "invoice_amount", "out_trade_no", "point_amount",
                                      "receipt_amount"}  # fmt: skip
ZERO_AMOUNTS = {"buyer_pay_amount": "0.00", "invoice_amount": "0.00", "point_amount": "0.00", "receipt_amount": "0.00"}


def pay_biz(out_trade_no: str, code: str, amount: str = "20.00", **extra: Any) -> dict[str, Any]:
    return {"out_trade_no": out_trade_no, "scene": "bar_code", "auth_code": code, "subject": "Coffee",
            "total_amount": amount, **extra}  # fmt: skip


def assert_failed_trade_shape(node: dict[str, Any], out_trade_no: str) -> None:
    assert node["code"] == "40004"
    assert set(node) == FAILED_TRADE_FIELDS, node
    assert {k: node[k] for k in ZERO_AMOUNTS} == ZERO_AMOUNTS
    assert node["out_trade_no"] == out_trade_no
    # the real order: code, msg, sub_code, sub_msg, then the fields by name
    assert list(node) == ["code", "msg", "sub_code", "sub_msg", *sorted(FAILED_TRADE_FIELDS - ERROR_FIELDS)]


def test_a_declined_pay_carries_only_the_zero_amounts_and_never_the_total(client: TinyClient) -> None:
    reply = client.call(PAY, pay_biz("d1", example(Behaviour.BALANCE_NOT_ENOUGH), amount="35.00"))
    assert reply.verified and reply.sub_code == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    assert "total_amount" not in reply.node
    assert_failed_trade_shape(reply.node, "d1")


def test_every_trade_pay_business_failure_has_the_failed_trade_shape(client: TinyClient) -> None:
    paid_code, other_code = example(Behaviour.PAID), example(Behaviour.PAID, length=20)
    client.ok(PAY, pay_biz("p1", paid_code))
    client.call(PAY, pay_biz("c1", example(Behaviour.BALANCE_NOT_ENOUGH)))
    failures = {
        "ACQ.PAYMENT_AUTH_CODE_INVALID": pay_biz("f1", example(Behaviour.CODE_INVALID)),
        "ACQ.TRADE_HAS_SUCCESS": pay_biz("p1", paid_code),
        "ACQ.CONTEXT_INCONSISTENT": pay_biz("p1", paid_code, amount="21.00"),
        "ACQ.TRADE_BUYER_NOT_MATCH": pay_biz("p1", other_code),
        "ACQ.TRADE_HAS_CLOSE": pay_biz("c1", example(Behaviour.BALANCE_NOT_ENOUGH)),
        "ACQ.INVALID_PARAMETER": pay_biz("f2", paid_code, amount="0.00"),
    }
    for sub_code, biz in failures.items():
        reply = client.call(PAY, biz)
        assert reply.verified and reply.sub_code == sub_code, reply.node
        assert_failed_trade_shape(reply.node, biz["out_trade_no"])


def test_trade_query_failures_have_the_failed_trade_shape(client: TinyClient) -> None:
    reply = client.call(QUERY, {"out_trade_no": "nothing_here"})
    assert reply.sub_code == "ACQ.TRADE_NOT_EXIST"
    assert_failed_trade_shape(reply.node, "nothing_here")
    by_trade_no = client.call(QUERY, {"trade_no": "2099010121001004000000000000"})
    assert by_trade_no.sub_code == "ACQ.TRADE_NOT_EXIST"
    assert set(by_trade_no.node) == FAILED_TRADE_FIELDS - {"out_trade_no"}  # none was sent: none is shown


@pytest.mark.parametrize(
    ("method", "biz", "sub_code"),
    [
        (CANCEL, {"trade_no": "2099010121001004000000000000"}, "ACQ.TRADE_NOT_EXIST"),
        (CANCEL, {}, "ACQ.INVALID_PARAMETER"),
        (PAY, {"out_trade_no": "x1"}, "isv.invalid-parameter"),  # a 40002: no trade fields either
        ("alipay.marketing.card.query", {"target_card_no": "none", "target_card_no_type": "BIZ_CARD"},
         "CARD_NOT_EXIST"),
        ("alipay.marketing.card.template.query", {"template_id": "0" * 32}, "TEMPLATE_NOT_EXIST"),
    ],
)  # fmt: skip
def test_other_failures_carry_only_code_msg_sub_code_sub_msg(
    client: TinyClient, method: str, biz: dict[str, Any], sub_code: str
) -> None:
    reply = client.call(method, biz)
    assert reply.verified and reply.sub_code == sub_code
    assert set(reply.node) == ERROR_FIELDS, reply.node


def test_card_and_form_failures_carry_no_business_fields(client: TinyClient) -> None:
    template_id = make_template(client)
    form = client.call("alipay.marketing.card.activateform.query",
                       {"biz_type": "MEMBER_CARD", "template_id": template_id, "request_id": "1" * 29})  # fmt: skip
    assert form.sub_code == "aop.invalid-auth-token" and set(form.node) == ERROR_FIELDS
    oauth = client.call("alipay.system.oauth.token", text={"grant_type": "authorization_code", "code": "nope"})
    assert oauth.key == "error_response" and oauth.sub_code == "isv.code-invalid" and set(oauth.node) == ERROR_FIELDS
