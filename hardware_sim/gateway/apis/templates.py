"""alipay.marketing.card.template.create / .query.

Idempotent on `request_id` (per app): a repeat returns the first template_id and counts as a
duplicate absorbed, never a second template."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .. import ids
from ..errors import business, invalid_parameter
from .context import (
    Context,
    JsonObject,
    one_of,
    optional_list,
    optional_str,
    require_object,
    require_str,
)
from .images import image_exists

WRITE_OFF_TYPES = frozenset({"qrcode", "barcode", "dqrcode", "dbarcode", "mdqrcode", "mdbarcode", "text", "none"})
FIELD_NAMES = frozenset({"Balance", "Point", "Level", "OpenDate", "ValidDate"})
RULE_NAMES = frozenset({"ASSIGN_FROM_REQUEST", "DATE_IN_FUTURE", "CONST"})


def create(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    request_id = require_str(biz, "request_id", max_len=64)
    existing = ctx.db.execute(
        "SELECT template_id FROM templates WHERE app_id = ? AND request_id = ?", (ctx.app_id, request_id)
    ).fetchone()
    if existing is not None:
        ctx.counters.duplicate("request_id")
        return _created(existing["template_id"])
    one_of(require_str(biz, "card_type", max_len=32), frozenset({"OUT_MEMBER_CARD"}), "card_type")
    prefix = optional_str(biz, "biz_no_prefix", max_len=10)
    suffix_len = _suffix_len(biz)
    if len(prefix) + suffix_len > 32:
        raise invalid_parameter("biz_no_prefix长度加biz_no_suffix_len不能超过32")
    write_off_type = optional_str(biz, "write_off_type", max_len=32)
    if write_off_type:
        one_of(write_off_type, WRITE_OFF_TYPES, "write_off_type")
    _check_style(ctx, require_object(biz, "template_style_info"))
    _check_columns(optional_list(biz, "column_info_list"))
    _check_field_rules(optional_list(biz, "field_rule_list"))
    for conf in optional_list(biz, "card_level_conf"):
        if not isinstance(conf, dict):
            raise invalid_parameter("card_level_conf必须是对象数组")
        require_str(conf, "level", max_len=64, path="card_level_conf.")
    template_id = ids.template_id(ctx.now)
    ctx.db.execute(
        "INSERT INTO templates (template_id, app_id, request_id, body, biz_no_prefix, biz_no_suffix_len,"
        " next_card_seq, form, created) VALUES (?, ?, ?, ?, ?, ?, 1, NULL, ?)",
        (template_id, ctx.app_id, request_id, json.dumps(biz, ensure_ascii=False), prefix, suffix_len, ctx.now),
    )
    return _created(template_id)


def _created(template_id: str) -> JsonObject:
    return {"code": "10000", "msg": "Success", "template_id": template_id}


def _suffix_len(biz: JsonObject) -> int:
    raw = biz.get("biz_no_suffix_len")
    if raw is None or raw == "":
        raise invalid_parameter("biz_no_suffix_len不能为空")
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not (text.isascii() and text.isdigit()) or not 8 <= int(text) <= 32:
        raise invalid_parameter("biz_no_suffix_len取值范围为8到32")
    return int(text)


def _check_style(ctx: Context, style: JsonObject) -> None:
    require_str(style, "card_show_name", max_len=10, path="template_style_info.")
    for name in ("logo_id", "background_id"):
        image_id = require_str(style, name, max_len=64, path="template_style_info.")
        if not image_exists(ctx, image_id):
            raise invalid_parameter(f"template_style_info.{name}不存在，请先上传图片")


def _check_columns(columns: list[Any]) -> None:
    for column in columns:
        if not isinstance(column, dict):
            raise invalid_parameter("column_info_list必须是对象数组")
        require_str(column, "code", max_len=32, path="column_info_list.")
        require_str(column, "title", max_len=16, path="column_info_list.")


def _check_field_rules(rules: list[Any]) -> None:
    for rule in rules:
        if not isinstance(rule, dict):
            raise invalid_parameter("field_rule_list必须是对象数组")
        one_of(require_str(rule, "field_name", path="field_rule_list."), FIELD_NAMES, "field_rule_list.field_name")
        one_of(require_str(rule, "rule_name", path="field_rule_list."), RULE_NAMES, "field_rule_list.rule_name")
        require_str(rule, "rule_value", max_len=512, path="field_rule_list.")


def load_template(ctx: Context, template_id: str) -> sqlite3.Row:
    """The app's template, or 40004 TEMPLATE_NOT_EXIST (card sub_codes are not documented: ours)."""
    row = ctx.db.execute(
        "SELECT * FROM templates WHERE template_id = ? AND app_id = ?", (template_id, ctx.app_id)
    ).fetchone()
    if row is None:
        raise business("TEMPLATE_NOT_EXIST", "会员卡模板不存在")
    template: sqlite3.Row = row
    return template


def query(ctx: Context) -> JsonObject:
    template = load_template(ctx, require_str(ctx.biz(), "template_id", max_len=32))
    body = json.loads(template["body"])
    body.pop("request_id", None)
    if "card_level_conf" in body:  # the query reply names this list differently (reference §3.2)
        body["card_level_confs"] = body.pop("card_level_conf")
    return {"code": "10000", "msg": "Success", **body}


HANDLERS = {
    "alipay.marketing.card.template.create": create,
    "alipay.marketing.card.template.query": query,
}
