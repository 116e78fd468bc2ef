"""alipay.trade.pay (bar_code) / .query / .cancel, with the buyer scripted by the payment code.

`out_trade_no` rules (reference §6): same number + same order + same buyer replays the first
outcome (a paid trade answers ACQ.TRADE_HAS_SUCCESS; a waiting one 10003 again), a different order
is ACQ.CONTEXT_INCONSISTENT, another buyer ACQ.TRADE_BUYER_NOT_MATCH, a closed trade
ACQ.TRADE_HAS_CLOSE. Cancelling an unknown trade records it closed, so a late pay cannot succeed.

Failure replies carry only what the reference lists (§3.11, §3.12): a 40004 of trade.pay or
trade.query adds the four zero amounts and the `out_trade_no` sent, never `total_amount`, `trade_no`
or buyer fields; trade.cancel failures add nothing."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
from dataclasses import replace
from decimal import Decimal

from .. import ids
from ..chinatime import format_china
from ..errors import ApiError, business
from ..payment_codes import Behaviour, classify
from .context import AMOUNT, Context, Handler, JsonObject, one_of, optional_str, require_str

OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_]{1,64}")
_ZERO = "0.00"
_ORDER_FIELDS = ("scene", "subject", "total_amount", "product_code", "store_id", "terminal_id", "operator_id")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _masked(code: str) -> str:
    return code[:2] + "*" * max(len(code) - 6, 0) + code[-4:]


def _buyer_of(code: str) -> tuple[str, str]:
    """A stable fake buyer per payment code: (buyer_user_id, masked logon id)."""
    number = int(_digest(code)[:12], 16) % 10**12
    return f"2088{number:012d}", f"{str(number)[:3]}***@sim.example"


def _failure_shape(handler: Handler) -> Handler:
    """Every 40004 of the wrapped handler carries the fields of a failed trade (see the module doc)."""

    @functools.wraps(handler)
    def wrapped(ctx: Context) -> JsonObject:
        try:
            return handler(ctx)
        except ApiError as error:
            if error.code != "40004":
                raise
            raise replace(error, extra=_failed_amounts(ctx.biz().get("out_trade_no"))) from None

    return wrapped


@_failure_shape
def pay(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    out_trade_no = require_str(biz, "out_trade_no", max_len=64)
    if not OUT_TRADE_NO.fullmatch(out_trade_no):
        raise business("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no只能包含字母、数字、下划线")
    one_of(require_str(biz, "scene", max_len=32), frozenset({"bar_code", "wave_code", "security_code"}), "scene")
    code = require_str(biz, "auth_code", max_len=64)
    require_str(biz, "subject", max_len=256)
    amount = require_str(biz, "total_amount", max_len=11)
    if not AMOUNT.fullmatch(amount) or not Decimal("0.01") <= Decimal(amount) <= Decimal("100000000"):
        raise business("ACQ.INVALID_PARAMETER", "参数无效: total_amount取值范围为[0.01,100000000]")
    for name in _ORDER_FIELDS:
        optional_str(biz, name, max_len=256)
    order_digest = _digest(json.dumps({k: biz.get(k) for k in _ORDER_FIELDS}, sort_keys=True))
    existing = _find(ctx, out_trade_no, "")
    if existing is not None:
        return _replay(ctx, existing, order_digest, _digest(code))
    rule = classify(code)
    if rule.behaviour is Behaviour.CODE_INVALID:
        raise business("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付授权码无效")
    buyer_id, logon_id = _buyer_of(code)
    status, confirm_at = {
        Behaviour.PAID: ("TRADE_SUCCESS", ctx.now),
        Behaviour.NEEDS_CONFIRMATION: ("WAIT_BUYER_PAY", ctx.now + rule.confirm_after),
        Behaviour.NEVER_COMPLETES: ("WAIT_BUYER_PAY", None),
        Behaviour.BALANCE_NOT_ENOUGH: ("TRADE_CLOSED", None),
    }[rule.behaviour]
    ctx.db.execute(
        "INSERT INTO trades (app_id, out_trade_no, trade_no, order_digest, code_digest, code_masked,"
        " total_amount, subject, buyer_user_id, buyer_logon_id, status, confirm_at, gmt_payment,"
        " cancel_action, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)",
        (
            ctx.app_id, out_trade_no, ids.trade_no(ctx.now), order_digest, _digest(code), _masked(code),
            amount, biz["subject"], buyer_id, logon_id, status, confirm_at,
            format_china(ctx.now) if status == "TRADE_SUCCESS" else "", ctx.now,
        ),
    )  # fmt: skip
    trade = _find(ctx, out_trade_no, "")
    assert trade is not None
    if rule.behaviour is Behaviour.BALANCE_NOT_ENOUGH:
        raise business("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
    return _pay_reply(trade)


def _replay(ctx: Context, trade: sqlite3.Row, order_digest: str, code_digest: str) -> JsonObject:
    trade = _settle(ctx, trade)
    if trade["status"] == "TRADE_CLOSED":
        raise business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
    if trade["order_digest"] != order_digest:
        raise business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
    if trade["code_digest"] != code_digest:
        raise business("ACQ.TRADE_BUYER_NOT_MATCH", "交易买家不匹配")
    ctx.counters.duplicate("out_trade_no")
    if trade["status"] == "TRADE_SUCCESS":
        raise business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
    return _pay_reply(trade)


def _failed_amounts(out_trade_no: object) -> tuple[tuple[str, str], ...]:
    """The fields of a failed trade.pay/query (the real capture's order); `out_trade_no` only when sent."""
    shown = {"out_trade_no": out_trade_no} if isinstance(out_trade_no, str) and out_trade_no else {}
    return tuple({
        "buyer_pay_amount": _ZERO, "invoice_amount": _ZERO, **shown, "point_amount": _ZERO, "receipt_amount": _ZERO,
    }.items())  # fmt: skip


def _pay_reply(trade: sqlite3.Row) -> JsonObject:
    paid = trade["status"] == "TRADE_SUCCESS"
    amount = trade["total_amount"] if paid else _ZERO
    node: JsonObject = {
        "code": "10000" if paid else "10003",
        "msg": "Success" if paid else " order success pay inprocess",
        "buyer_logon_id": trade["buyer_logon_id"],
        "buyer_pay_amount": amount,
        "buyer_user_id": trade["buyer_user_id"],
        "invoice_amount": amount,
        "out_trade_no": trade["out_trade_no"],
        "point_amount": _ZERO,
        "receipt_amount": amount,
        "total_amount": trade["total_amount"],
        "trade_no": trade["trade_no"],
    }
    if paid:
        node["fund_bill_list"] = [{"amount": amount, "fund_channel": "ALIPAYACCOUNT"}]
        node["gmt_payment"] = trade["gmt_payment"]
    return node


def _find(ctx: Context, out_trade_no: str, trade_no: str) -> sqlite3.Row | None:
    if trade_no:  # trade_no wins when both are given
        sql, key = "SELECT * FROM trades WHERE app_id = ? AND trade_no = ?", trade_no
    else:
        sql, key = "SELECT * FROM trades WHERE app_id = ? AND out_trade_no = ?", out_trade_no
    row: sqlite3.Row | None = ctx.db.execute(sql, (ctx.app_id, key)).fetchone()
    return row


def _settle(ctx: Context, trade: sqlite3.Row) -> sqlite3.Row:
    """A waiting trade whose buyer confirmed by now becomes TRADE_SUCCESS (evaluated lazily)."""
    if trade["status"] == "WAIT_BUYER_PAY" and trade["confirm_at"] is not None and trade["confirm_at"] <= ctx.now:
        ctx.db.execute(
            "UPDATE trades SET status = 'TRADE_SUCCESS', gmt_payment = ? WHERE trade_no = ?",
            (format_china(trade["confirm_at"]), trade["trade_no"]),
        )
        settled = _find(ctx, "", trade["trade_no"])
        assert settled is not None
        return settled
    return trade


def _keys(ctx: Context) -> tuple[str, str]:
    biz = ctx.biz()
    out_trade_no = optional_str(biz, "out_trade_no", max_len=64)
    trade_no = optional_str(biz, "trade_no", max_len=64)
    if not out_trade_no and not trade_no:
        raise business("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no和trade_no不能同时为空")
    return out_trade_no, trade_no


@_failure_shape
def query(ctx: Context) -> JsonObject:
    out_trade_no, trade_no = _keys(ctx)
    trade = _find(ctx, out_trade_no, trade_no)
    if trade is None:
        raise business("ACQ.TRADE_NOT_EXIST", "交易不存在")
    trade = _settle(ctx, trade)
    paid = trade["status"] == "TRADE_SUCCESS"
    amount = trade["total_amount"] if paid else _ZERO
    node: JsonObject = {
        "code": "10000",
        "msg": "Success",
        "buyer_logon_id": trade["buyer_logon_id"],
        "buyer_pay_amount": amount,
        "buyer_user_id": trade["buyer_user_id"],
        "buyer_user_type": "PRIVATE",
        "invoice_amount": amount,
        "out_trade_no": trade["out_trade_no"],
        "point_amount": _ZERO,
        "receipt_amount": amount,
        "total_amount": trade["total_amount"],
        "trade_no": trade["trade_no"],
        "trade_status": trade["status"],
    }
    if paid:
        node["send_pay_date"] = trade["gmt_payment"]
        node["fund_bill_list"] = [{"amount": amount, "fund_channel": "ALIPAYACCOUNT"}]
    return node


def cancel(ctx: Context) -> JsonObject:
    out_trade_no, trade_no = _keys(ctx)
    trade = _find(ctx, out_trade_no, trade_no)
    if trade is None:
        if not out_trade_no:
            raise business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        _tombstone(ctx, out_trade_no)
        return {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "retry_flag": "N"}
    trade = _settle(ctx, trade)
    if trade["cancel_action"]:
        ctx.counters.duplicate("cancel")
        action = trade["cancel_action"]
    else:
        action = "refund" if trade["status"] == "TRADE_SUCCESS" else "close"
    ctx.db.execute(
        "UPDATE trades SET status = 'TRADE_CLOSED', cancel_action = ?, cancels = cancels + 1 WHERE trade_no = ?",
        (action, trade["trade_no"]),
    )
    return {
        "code": "10000",
        "msg": "Success",
        "action": action,
        "out_trade_no": trade["out_trade_no"],
        "retry_flag": "N",
        "trade_no": trade["trade_no"],
    }


def _tombstone(ctx: Context, out_trade_no: str) -> None:
    ctx.db.execute(
        "INSERT INTO trades (app_id, out_trade_no, trade_no, order_digest, code_digest, code_masked,"
        " total_amount, subject, buyer_user_id, buyer_logon_id, status, confirm_at, gmt_payment,"
        " cancel_action, cancels, created) VALUES (?, ?, ?, '', '', '', ?, '', '', '', 'TRADE_CLOSED', NULL,"
        " '', 'close', 1, ?)",
        (ctx.app_id, out_trade_no, ids.trade_no(ctx.now), _ZERO, ctx.now),
    )


HANDLERS = {
    "alipay.trade.pay": pay,
    "alipay.trade.query": query,
    "alipay.trade.cancel": cancel,
}
