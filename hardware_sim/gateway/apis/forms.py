"""The open-card form: formtemplate.set, activateurl.apply, activateform.query.

The activation URL points at the simulator's own page (see `activation.py`), where the simulated
customer fills the form; its answers come back here through activateform.query."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ..errors import business, invalid_parameter
from .context import Context, JsonObject, one_of, optional_str, require_object, require_str
from .templates import load_template

FORM_FIELDS = frozenset(
    {
        "OPEN_FORM_FIELD_MOBILE", "OPEN_FORM_FIELD_GENDER", "OPEN_FORM_FIELD_NAME",
        "OPEN_FORM_FIELD_BIRTHDAY", "OPEN_FORM_FIELD_IDCARD", "OPEN_FORM_FIELD_EMAIL",
        "OPEN_FORM_FIELD_ADDRESS", "OPEN_FORM_FIELD_CITY", "OPEN_FORM_FIELD_IS_STUDENT",
        "OPEN_FORM_FIELD_MEMBER_GRADE", "OPEN_FORM_FIELD_CERT_TYPE",
    }
)  # fmt: skip
MAX_FORM_FIELDS = 20
ACTIVATION_PATH = "/account/openform/activecard.htm"
# The real URL carries this pre-encoded value (reference §3.4).
WEBVIEW_OPTIONS = "canPullDown%3dNO%26transparentTitle%3dauto"


def formtemplate_set(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    template = load_template(ctx, require_str(biz, "template_id", max_len=32))
    fields = require_object(biz, "fields")
    required = _common_fields(fields.get("required"), "fields.required")
    optional = _common_fields(fields.get("optional"), "fields.optional")
    if not required:
        raise invalid_parameter("fields.required至少包含一个字段")
    if set(required) & set(optional):
        raise invalid_parameter("fields.optional不能与fields.required重复")
    if len(required) + len(optional) > MAX_FORM_FIELDS:
        raise invalid_parameter(f"表单字段不能超过{MAX_FORM_FIELDS}个")
    form = json.dumps({"required": required, "optional": optional})
    ctx.db.execute("UPDATE templates SET form = ? WHERE template_id = ?", (form, template["template_id"]))
    return {"code": "10000", "msg": "Success"}


def _common_fields(value: Any, path: str) -> list[str]:
    """`required`/`optional`: a JSON string `{"common_fields":[...]}` (documented) or that object."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise invalid_parameter(f"{path}不是合法的JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("common_fields", []), list):
        raise invalid_parameter(f'{path}格式应为{{"common_fields":[...]}}')
    codes = value.get("common_fields", [])
    for code in codes:
        if not isinstance(code, str):
            raise invalid_parameter(f"{path}.common_fields必须是字符串数组")
        one_of(code, FORM_FIELDS, f"{path}.common_fields")
    return list(dict.fromkeys(codes))


def activateurl_apply(ctx: Context) -> JsonObject:
    biz = ctx.biz()
    template_id = require_str(biz, "template_id", max_len=32)
    load_template(ctx, template_id)
    callback = optional_str(biz, "callback", max_len=10240)
    out_string = optional_str(biz, "out_string", max_len=256)
    follow_app_id = optional_str(biz, "follow_app_id", max_len=512)
    if callback and urlsplit(callback).query:
        raise invalid_parameter("callback不能带参数")
    query = urlencode({"app_id": ctx.app_id, "template_id": template_id})
    query += f"&__webview_options__={WEBVIEW_OPTIONS}"
    extras = {"callback": callback, "out_string": out_string, "follow_app_id": follow_app_id}
    query += "".join(f"&{k}={quote(v, safe='/')}" for k, v in extras.items() if v)
    url = f"{ctx.settings.base_url}{ACTIVATION_PATH}?{query}"
    ctx.db.execute(
        "INSERT INTO activation_urls (app_id, template_id, callback, out_string, follow_app_id, url, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ctx.app_id, template_id, callback, out_string, follow_app_id, url, ctx.now),
    )
    # URL-encoded like the real reply: clients must decode it before use.
    return {"code": "10000", "msg": "Success", "apply_card_url": quote(url, safe="")}


def activateform_query(ctx: Context) -> JsonObject:
    user_id = ctx.user_of_auth_token()
    biz = ctx.biz()
    one_of(require_str(biz, "biz_type", max_len=64), frozenset({"MEMBER_CARD"}), "biz_type")
    template_id = require_str(biz, "template_id", max_len=32)
    request_id = require_str(biz, "request_id", max_len=64)
    row = ctx.db.execute(
        "SELECT infos FROM form_submissions WHERE request_id = ? AND app_id = ? AND template_id = ? AND user_id = ?",
        (request_id, ctx.app_id, template_id, user_id),
    ).fetchone()
    if row is None:
        raise business("REQUEST_ID_NOT_EXIST", "表单提交记录不存在(request_id与模板或用户不匹配)")
    # `infos` is a JSON array serialised into a string, as the real reply does.
    return {"code": "10000", "msg": "Success", "infos": row["infos"]}


HANDLERS = {
    "alipay.marketing.card.formtemplate.set": formtemplate_set,
    "alipay.marketing.card.activateurl.apply": activateurl_apply,
    "alipay.marketing.card.activateform.query": activateform_query,
}
