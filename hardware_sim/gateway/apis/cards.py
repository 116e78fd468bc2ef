"""alipay.marketing.card.open / .update / .query / .delete.

- open: idempotent on `out_serial_no` (same card back, never a second one); one card per user per
  template (a second open for the same user returns the card the user already holds).
- update: `card_info` values are ABSOLUTE; every update is recorded with its `occur_time`, and an
  update older than one already applied to the card counts as a regression (still applied, like
  Alipay would: the counter is how tests catch out-of-order senders)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .. import ids
from ..chinatime import format_china, parse_china
from ..errors import business, invalid_parameter
from .context import (
    AMOUNT,
    POINT,
    Context,
    JsonObject,
    one_of,
    optional_object,
    optional_str,
    require_object,
    require_str,
)
from .templates import load_template

DEFAULT_VALID_DATE = "2099-12-31 23:59:59"
REASON_CODES = frozenset({"USER_UNBUND", "CANCEL", "PRESENT"})
_CARD_NO_TYPES = frozenset({"BIZ_CARD", "D_QR_CODE", "D_BAR_CODE"})


def open_card(ctx: Context) -> JsonObject:
    token_user = ctx.user_of_auth_token()
    biz = ctx.biz()
    out_serial_no = require_str(biz, "out_serial_no", max_len=64)
    template_id = require_str(biz, "card_template_id", max_len=32)
    user_info = require_object(biz, "card_user_info")
    ext = require_object(biz, "card_ext_info")
    one_of(require_str(user_info, "user_uni_id_type", path="card_user_info."), frozenset({"UID"}),
           "card_user_info.user_uni_id_type")  # fmt: skip
    user_id = _user_of(ctx, user_info)
    if user_id != token_user:
        raise business("unknown-sub-code", "未知的错误码isv.user-auth-fail")  # the real FAQ's shape
    if ext.get("biz_card_no"):
        raise invalid_parameter("card_ext_info.biz_card_no不能传入")
    same_serial = ctx.db.execute(
        "SELECT * FROM cards WHERE app_id = ? AND out_serial_no = ?", (ctx.app_id, out_serial_no)
    ).fetchone()
    if same_serial is not None:
        ctx.counters.duplicate("out_serial_no")
        return _opened(same_serial)
    template = load_template(ctx, template_id)
    held = ctx.db.execute(
        "SELECT * FROM cards WHERE template_id = ? AND user_id = ? AND deleted = 0", (template_id, user_id)
    ).fetchone()
    if held is not None:
        ctx.counters.duplicate("card_per_user")
        return _opened(held)
    values = _card_values(ext, path="card_ext_info.")
    _check_level(template, values.get("level", ""))
    external = optional_str(ext, "external_card_no", max_len=64, path="card_ext_info.")
    open_date = _date(ext, "open_date") or format_china(ctx.now)
    valid_date = _date(ext, "valid_date") or DEFAULT_VALID_DATE
    seq = int(template["next_card_seq"])
    biz_card_no = template["biz_no_prefix"] + str(seq).zfill(int(template["biz_no_suffix_len"]))
    ctx.db.execute("UPDATE templates SET next_card_seq = ? WHERE template_id = ?", (seq + 1, template_id))
    ctx.db.execute(
        "INSERT INTO cards (biz_card_no, app_id, template_id, user_id, out_serial_no, external_card_no,"
        " open_date, valid_date, point, balance, level, open_card_channel, open_card_channel_id, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            biz_card_no, ctx.app_id, template_id, user_id, out_serial_no, external, open_date, valid_date,
            values.get("point", ""), values.get("balance", ""), values.get("level", ""),
            optional_str(biz, "open_card_channel", max_len=64), optional_str(biz, "open_card_channel_id", max_len=64),
            ctx.now,
        ),
    )  # fmt: skip
    row = ctx.db.execute("SELECT * FROM cards WHERE biz_card_no = ?", (biz_card_no,)).fetchone()
    return _opened(row)


def _user_of(ctx: Context, user_info: JsonObject) -> str:
    uid = optional_str(user_info, "user_uni_id", max_len=32, path="card_user_info.")
    open_id = optional_str(user_info, "open_id", max_len=128, path="card_user_info.")
    if uid:
        return uid
    if not open_id:
        raise invalid_parameter("card_user_info.user_uni_id与open_id不能同时为空")
    row = ctx.db.execute("SELECT user_id FROM users WHERE open_id = ?", (open_id,)).fetchone()
    return str(row["user_id"]) if row is not None else ""


def _check_level(template: sqlite3.Row, level: str) -> None:
    """When the template lists card levels, card.open must use one of them (reference §3.2)."""
    levels = {c.get("level") for c in json.loads(template["body"]).get("card_level_conf") or []}
    if level and levels and level not in levels:
        raise invalid_parameter("level必须是模板card_level_conf中配置的等级")


def _date(obj: JsonObject, name: str) -> str:
    value = optional_str(obj, name, path="card_ext_info.")
    if value:
        try:
            parse_china(value)
        except ValueError:
            raise invalid_parameter(f"card_ext_info.{name}格式应为yyyy-MM-dd HH:mm:ss") from None
    return value


def _card_values(card_info: JsonObject, *, path: str) -> dict[str, str]:
    """The point/balance/level present in `card_info`, type- and format-checked (strings only)."""
    values: dict[str, str] = {}
    for name, shape in (("point", POINT), ("balance", AMOUNT)):
        value = optional_str(card_info, name, max_len=64, path=path)
        if value:
            if not shape.fullmatch(value):
                raise invalid_parameter(f"{path}{name}格式错误")
            values[name] = value
    level = optional_str(card_info, "level", max_len=64, path=path)
    if level:
        values["level"] = level
    return values


def _opened(card: sqlite3.Row) -> JsonObject:
    card_info: dict[str, Any] = {"biz_card_no": card["biz_card_no"]}
    if card["external_card_no"]:
        card_info["external_card_no"] = card["external_card_no"]
    card_info["open_date"] = card["open_date"]
    card_info["valid_date"] = card["valid_date"]
    node: JsonObject = {"code": "10000", "msg": "Success", "card_info": card_info}
    if card["open_card_channel"]:
        node["open_card_channel"] = card["open_card_channel"]
    if card["open_card_channel_id"]:
        node["open_card_channel_id"] = card["open_card_channel_id"]
    return node


def _target_card(ctx: Context, biz: JsonObject) -> sqlite3.Row:
    card_no = require_str(biz, "target_card_no", max_len=32)
    one_of(require_str(biz, "target_card_no_type", max_len=64), _CARD_NO_TYPES, "target_card_no_type")
    # Dynamic codes (D_QR_CODE/D_BAR_CODE) are not simulated: they never match a card.
    row = ctx.db.execute(
        "SELECT * FROM cards WHERE biz_card_no = ? AND app_id = ? AND deleted = 0 AND ? = 'BIZ_CARD'",
        (card_no, ctx.app_id, biz["target_card_no_type"]),
    ).fetchone()
    if row is None:
        raise business("CARD_NOT_EXIST", "会员卡不存在")
    card: sqlite3.Row = row
    return card


def update(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    occur_time = require_str(biz, "occur_time", max_len=19)
    try:
        occur_epoch = parse_china(occur_time)
    except ValueError:
        raise invalid_parameter("occur_time格式应为yyyy-MM-dd HH:mm:ss") from None
    card_info = require_object(biz, "card_info")
    card = _target_card(ctx, biz)
    values = _card_values(card_info, path="card_info.")
    newest = ctx.db.execute(
        "SELECT MAX(occur_epoch) AS newest FROM card_updates WHERE biz_card_no = ?", (card["biz_card_no"],)
    ).fetchone()["newest"]
    regression = newest is not None and occur_epoch < newest
    if _same_as_last(ctx, card["biz_card_no"], occur_time, values):
        ctx.counters.duplicate("card_update")
    ctx.db.execute(
        "INSERT INTO card_updates (biz_card_no, occur_time, occur_epoch, point, balance, level, regression,"
        " applied) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            card["biz_card_no"], occur_time, occur_epoch, values.get("point"), values.get("balance"),
            values.get("level"), int(regression), ctx.now,
        ),
    )  # fmt: skip
    if values:
        assignments = ", ".join(f"{name} = ?" for name in values)
        ctx.db.execute(
            f"UPDATE cards SET {assignments} WHERE biz_card_no = ?",  # noqa: S608  (names from a fixed set)
            (*values.values(), card["biz_card_no"]),
        )
    return {"code": "10000", "msg": "Success"}


def _same_as_last(ctx: Context, card_no: str, occur_time: str, values: dict[str, str]) -> bool:
    last = ctx.db.execute(
        "SELECT occur_time, point, balance, level FROM card_updates WHERE biz_card_no = ? ORDER BY id DESC LIMIT 1",
        (card_no,),
    ).fetchone()
    return last is not None and (last["occur_time"], last["point"], last["balance"], last["level"]) == (
        occur_time, values.get("point"), values.get("balance"), values.get("level"),
    )  # fmt: skip


def query(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    optional_object(biz, "card_user_info")
    card = _target_card(ctx, biz)
    card_info: dict[str, Any] = {"biz_card_no": card["biz_card_no"]}
    for name in ("external_card_no", "open_date", "valid_date", "level", "point", "balance"):
        if card[name]:
            card_info[name] = card[name]
    pass_id = card["biz_card_no"]
    return {
        "code": "10000",
        "msg": "Success",
        "card_info": card_info,
        "schema_url": f"alipays://platformapi/startapp?appId=20000021&p={pass_id}",
        "pass_id": pass_id,
    }


def delete(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    out_serial_no = require_str(biz, "out_serial_no", max_len=32)
    reason_code = optional_str(biz, "reason_code", max_len=32)
    if reason_code:
        one_of(reason_code, REASON_CODES, "reason_code")
    done = ctx.db.execute(
        "SELECT biz_serial_no FROM card_deletes WHERE app_id = ? AND out_serial_no = ?", (ctx.app_id, out_serial_no)
    ).fetchone()
    if done is not None:
        ctx.counters.duplicate("out_serial_no")
        return {"code": "10000", "msg": "Success", "biz_serial_no": done["biz_serial_no"]}
    card = _target_card(ctx, biz)
    biz_serial_no = ids.serial_no(ctx.now)
    ctx.db.execute("UPDATE cards SET deleted = 1 WHERE biz_card_no = ?", (card["biz_card_no"],))
    ctx.db.execute(
        "INSERT INTO card_deletes (app_id, out_serial_no, biz_card_no, biz_serial_no, reason_code, created)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (ctx.app_id, out_serial_no, card["biz_card_no"], biz_serial_no, reason_code, ctx.now),
    )
    return {"code": "10000", "msg": "Success", "biz_serial_no": biz_serial_no}


HANDLERS = {
    "alipay.marketing.card.open": open_card,
    "alipay.marketing.card.update": update,
    "alipay.marketing.card.query": query,
    "alipay.marketing.card.delete": delete,
}
