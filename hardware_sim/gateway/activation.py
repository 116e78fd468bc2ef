"""The simulated Alipay open-card page behind activation URLs (the customer's side of the flow).

GET describes the form that formtemplate.set configured; POST takes the answers, finds or creates
the Alipay user (by mobile), stores the answers under a new 29-digit request_id, issues a
single-use auth_code and returns the callback URL with the real parameters."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from . import ids
from .state import Store

SHORT_NAMES: dict[str, str] = {
    "mobile": "OPEN_FORM_FIELD_MOBILE",
    "name": "OPEN_FORM_FIELD_NAME",
    "gender": "OPEN_FORM_FIELD_GENDER",
    "birthday": "OPEN_FORM_FIELD_BIRTHDAY",
    "idcard": "OPEN_FORM_FIELD_IDCARD",
    "email": "OPEN_FORM_FIELD_EMAIL",
    "address": "OPEN_FORM_FIELD_ADDRESS",
    "city": "OPEN_FORM_FIELD_CITY",
    "is_student": "OPEN_FORM_FIELD_IS_STUDENT",
    "member_grade": "OPEN_FORM_FIELD_MEMBER_GRADE",
    "cert_type": "OPEN_FORM_FIELD_CERT_TYPE",
}
MOBILE = re.compile(r"1\d{10}", re.ASCII)
SCOPE = "auth_base,auth_user,auth_ecard"
STATE = base64.b64encode(b"mcard").decode()  # the value seen in the real callback example


class ActivationError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FormLink:
    app_id: str
    template_id: str
    callback: str
    out_string: str

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> FormLink:
        if not query.get("app_id") or not query.get("template_id"):
            raise ActivationError(400, "activation URL without app_id/template_id")
        return cls(query["app_id"], query["template_id"], query.get("callback", ""), query.get("out_string", ""))


def describe(store: Store, link: FormLink) -> dict[str, Any]:
    template = _issued_template(store, link)
    form = json.loads(template["form"] or '{"required": [], "optional": []}')
    body = json.loads(template["body"])
    return {
        "app_id": link.app_id,
        "template_id": link.template_id,
        "card_show_name": body.get("template_style_info", {}).get("card_show_name", ""),
        "required": form["required"],
        "optional": form["optional"],
        "field_names": {code: short for short, code in SHORT_NAMES.items()},
        "callback": link.callback,
        "out_string": link.out_string,
    }


def submit(
    store: Store, link: FormLink, answers: Mapping[str, str], *, now: float, auth_code_ttl: float
) -> dict[str, Any]:
    """Record the answers; returns {"callback_url": str | None, "params": {...}}."""
    values = {SHORT_NAMES.get(k, k): v.strip() for k, v in answers.items() if isinstance(v, str) and v.strip()}
    with store.transaction() as db:
        template = _issued_template(store, link)
        form = json.loads(template["form"] or '{"required": [], "optional": []}')
        missing = [code for code in form["required"] if code not in values]
        if missing:
            raise ActivationError(400, "required form fields missing: " + ", ".join(missing))
        mobile = values.get("OPEN_FORM_FIELD_MOBILE", "")
        if not MOBILE.fullmatch(mobile):
            raise ActivationError(400, "a mobile number of 11 digits starting with 1 is required")
        row = db.execute("SELECT user_id FROM users WHERE mobile = ?", (mobile,)).fetchone()
        if row is None:
            user_id = ids.user_id()
            db.execute(
                "INSERT INTO users (user_id, open_id, mobile, created) VALUES (?, ?, ?, ?)",
                (user_id, ids.open_id(), mobile, now),
            )
        else:
            user_id = row["user_id"]
        asked = [*form["required"], *form["optional"]]
        infos = [{code: values[code]} for code in asked if code in values]
        request_id = ids.request_id(now)
        db.execute(
            "INSERT INTO form_submissions (request_id, app_id, template_id, user_id, infos, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (request_id, link.app_id, link.template_id, user_id,
             json.dumps(infos, ensure_ascii=False, separators=(",", ":")), now),
        )  # fmt: skip
        code = ids.auth_code()
        db.execute(
            "INSERT INTO auth_codes (code, app_id, user_id, expires) VALUES (?, ?, ?, ?)",
            (code, link.app_id, user_id, now + auth_code_ttl),
        )
    params = {"app_id": link.app_id, "auth_code": code, "template_id": link.template_id, "request_id": request_id}
    if link.out_string:
        params["out_string"] = link.out_string
    params.update({"scope": SCOPE, "state": STATE})
    callback_url = f"{link.callback}?{urlencode(params)}" if link.callback else None
    return {"callback_url": callback_url, "params": params}


def _issued_template(store: Store, link: FormLink) -> Any:
    with store.reading() as db:
        issued = db.execute(
            "SELECT 1 FROM activation_urls WHERE app_id = ? AND template_id = ? AND callback = ? AND out_string = ?",
            (link.app_id, link.template_id, link.callback, link.out_string),
        ).fetchone()
        template = db.execute(
            "SELECT body, form FROM templates WHERE template_id = ? AND app_id = ?", (link.template_id, link.app_id)
        ).fetchone()
    if issued is None or template is None:
        raise ActivationError(404, "this activation URL was never issued by activateurl.apply")
    return template


def html_page(description: Mapping[str, Any], action: str) -> str:
    """A minimal HTML rendering of the form for people poking at it with a browser."""
    rows = []
    for code in [*description["required"], *description["optional"]]:
        short = description["field_names"].get(code, code)
        star = " *" if code in description["required"] else ""
        rows.append(f'<label>{escape(short)}{star} <input name="{escape(short)}"></label><br>')
    return (
        "<!doctype html><meta charset=utf-8><title>Open card</title>"
        f"<h1>{escape(description['card_show_name'])}</h1>"
        f'<form method=post action="{escape(action)}">{"".join(rows)}<button>Open card</button></form>'
    )
