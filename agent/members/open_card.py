"""Opening a membership card (DESIGN.md, till flow 1), reusable by the CLI and the daemon's card-open job.

    params = parse_callback_url(url, expected_app_id=settings.app_id)
    opened = await open_card(client, auth_code=params.auth_code, template_id=params.template_id,
                             request_id=params.request_id, card_values=CardValues(point="0"))

The flow is `system.oauth.token` -> `activateform.query` -> `card.open`. `out_serial_no` is derived
from template_id + request_id, so running the flow again for the same form submission can never
open a second card. The auth_code is single use: once oauth.token has succeeded, a re-run fails
with isv.code-invalid, and errors raised after that point say so (the customer must scan again).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlsplit

from agent.alipay import AlipayClient, AlipayError, apis
from agent.alipay.envelope import china_timestamp, utc_now

_AUTH_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TEMPLATE_ID = re.compile(r"^[0-9]{1,32}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", re.ASCII)
_POINT = re.compile(r"^-?(0|[1-9]\d{0,17})(\.\d{1,2})?$", re.ASCII)

# activateform.query answers -> card.open member_ext_info.
_GENDERS = {"MALE": "MALE", "FEMALE": "FEMALE", "M": "MALE", "F": "FEMALE", "男": "MALE", "女": "FEMALE"}


class CallbackError(ValueError):
    """The callback URL (or the values typed instead of it) cannot start an open-card flow.

    Messages name the parameter and never contain the auth_code itself.
    """


@dataclass(frozen=True)
class CallbackParams:
    """What Alipay appends to the callback after the customer filled the form."""

    auth_code: str
    template_id: str
    request_id: str
    app_id: str | None = None
    out_string: str | None = None

    def __repr__(self) -> str:  # the auth_code is a secret
        return (f"CallbackParams(template_id={self.template_id!r}, request_id={self.request_id!r}, "
                f"app_id={self.app_id!r}, out_string={self.out_string!r})")  # fmt: skip


def check_auth_code(value: str) -> str:
    if not _AUTH_CODE.fullmatch(value):
        raise CallbackError("auth_code: expected 1-64 letters or digits")
    return value


def check_template_id(value: str) -> str:
    if not _TEMPLATE_ID.fullmatch(value):
        raise CallbackError(f"template_id: expected up to 32 digits, got {value[:40]!r}")
    return value


def check_request_id(value: str) -> str:
    if not _REQUEST_ID.fullmatch(value):
        raise CallbackError(f"request_id: expected 1-64 letters or digits, got {value[:70]!r}")
    return value


def parse_callback_url(url: str, *, expected_app_id: str | None = None) -> CallbackParams:
    """Validate the callback URL Alipay redirected the customer to (or just its query string)."""
    text = url.strip()
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    if not query:
        raise CallbackError("the callback URL has no parameters (expected auth_code, template_id, request_id)")
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in params:
            raise CallbackError(f"{key}: given more than once")
        params[key] = value
    missing = [k for k in ("auth_code", "template_id", "request_id") if not params.get(k)]
    if missing:
        raise CallbackError(f"the callback URL lacks {', '.join(missing)}")
    app_id = params.get("app_id") or None
    if expected_app_id is not None and app_id is not None and app_id != expected_app_id:
        raise CallbackError(
            f"app_id: the callback is for app {app_id}, but this agent is app {expected_app_id} "
            "(the activation QR belongs to another app or environment)"
        )
    return CallbackParams(
        auth_code=check_auth_code(params["auth_code"]),
        template_id=check_template_id(params["template_id"]),
        request_id=check_request_id(params["request_id"]),
        app_id=app_id,
        out_string=params.get("out_string") or None,
    )


def derive_out_serial_no(template_id: str, request_id: str) -> str:
    """The card.open idempotency key: one form submission (template + request) = one card, ever."""
    digest = hashlib.sha256(f"{template_id}:{request_id}".encode()).hexdigest()
    return "oc" + digest[:30]


@dataclass(frozen=True)
class CardValues:
    """The merchant's values for the new card (absolute, as in card_ext_info)."""

    level: str | None = None
    point: str | None = None
    balance: str | None = None
    external_card_no: str | None = None
    open_date: str | None = None  # 'yyyy-MM-dd HH:mm:ss' China time; open_card() sets "now" when absent

    def __post_init__(self) -> None:
        if self.point is not None and not _POINT.fullmatch(self.point):
            raise ValueError("points: expected a number with at most 2 decimals")
        if self.balance is not None:
            try:
                value = Decimal(self.balance)
            except InvalidOperation:
                raise ValueError("balance: expected an amount in yuan, like 12.50") from None
            if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
                raise ValueError("balance: expected a non-negative amount with at most 2 decimals")
        if self.external_card_no is not None and not 1 <= len(self.external_card_no) <= 64:
            raise ValueError("external_card_no: 1-64 characters")
        if self.level is not None and not 1 <= len(self.level) <= 64:
            raise ValueError("level: 1-64 characters")
        if self.open_date is not None and not _TIMESTAMP.fullmatch(self.open_date):
            raise ValueError("open_date: use 'yyyy-MM-dd HH:mm:ss' (China time)")

    def to_card_info(self) -> apis.CardInfo:
        balance = f"{Decimal(self.balance):.2f}" if self.balance is not None else None
        return apis.CardInfo(external_card_no=self.external_card_no, level=self.level, point=self.point,
                             balance=balance, open_date=self.open_date)  # fmt: skip


def member_info_from_form(answers: Mapping[str, str]) -> apis.MemberInfo:
    """The form answers Alipay holds, mapped to card.open's member_ext_info (unknown shapes dropped)."""
    gender = _GENDERS.get(answers.get("OPEN_FORM_FIELD_GENDER", "").strip().upper())
    birth = answers.get("OPEN_FORM_FIELD_BIRTHDAY", "").strip()
    return apis.MemberInfo(
        name=answers.get("OPEN_FORM_FIELD_NAME", "").strip() or None,
        gender=gender,
        birth=birth if _DATE.fullmatch(birth) else None,
        cell=answers.get("OPEN_FORM_FIELD_MOBILE", "").strip() or None,
    )


@dataclass(frozen=True)
class OpenedMember:
    card: apis.OpenedCard
    out_serial_no: str
    user_id: str | None
    open_id: str | None
    member: apis.MemberInfo  # PII: mask before showing, never log

    @property
    def card_no(self) -> str:
        return self.card.card_no

    def __repr__(self) -> str:
        return f"OpenedMember(card_no={self.card_no!r}, out_serial_no={self.out_serial_no!r})"


AUTH_CODE_SPENT_HINT = (
    "the customer's auth_code was already exchanged and is single use: running this again with the "
    "same callback fails with isv.code-invalid; ask the customer to scan the activation QR again. "
    "No second card can be opened for this form submission (out_serial_no {serial})"
)

AUTH_CODE_USED_HINT = (
    "an auth_code works once: if an earlier run with this callback failed after exchanging it, only a new "
    "scan helps (a customer holds one card per template, so no second card is made)"
)


async def open_card(
    client: AlipayClient,
    *,
    auth_code: str,
    template_id: str,
    request_id: str,
    card_values: CardValues,
    out_serial_no: str | None = None,
    open_card_channel: str | None = None,
    open_card_channel_id: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> OpenedMember:
    """oauth.token -> activateform.query -> card.open. Raises the client's AlipayError subclasses."""
    check_auth_code(auth_code)
    check_template_id(template_id)
    check_request_id(request_id)
    serial = out_serial_no or derive_out_serial_no(template_id, request_id)
    if card_values.open_date is None:  # card_ext_info must not be empty; the open date is always true
        card_values = replace(card_values, open_date=china_timestamp(clock()))
    try:
        token = await client.execute(apis.OAuthToken(code=auth_code))
    except AlipayError as exc:
        if exc.sub_code == "isv.code-invalid":
            exc.hint = "; ".join(filter(None, [exc.hint, AUTH_CODE_USED_HINT]))
        raise
    try:
        form = await client.execute(
            apis.ActivateFormQuery(template_id=template_id, request_id=request_id, auth_token=token.access_token)
        )
        member = member_info_from_form(form.answers)
        opened = await client.execute(
            apis.CardOpen(
                out_serial_no=serial,
                card_template_id=template_id,
                auth_token=token.access_token,
                card_ext_info=card_values.to_card_info(),
                user_id=token.user_id,
                open_id=None if token.user_id else token.open_id,
                member_ext_info=member,
                open_card_channel=open_card_channel,
                open_card_channel_id=open_card_channel_id,
            )
        )
    except AlipayError as exc:
        # Whatever failed after the token exchange, the same callback cannot be used again: say so.
        exc.hint = "; ".join(filter(None, [exc.hint, AUTH_CODE_SPENT_HINT.format(serial=serial)]))
        raise
    return OpenedMember(opened, serial, token.user_id, token.open_id, member)


def mask_mobile(mobile: str) -> str:
    """`13552319194` -> `135****9194`."""
    digits = mobile.strip()
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


def mask_name(name: str) -> str:
    """`李飞` -> `李*`, `Li Lei` -> `L*****`: enough to confirm with the customer, no more."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


__all__ = [
    "AUTH_CODE_SPENT_HINT", "AUTH_CODE_USED_HINT", "CallbackError", "CallbackParams", "CardValues", "OpenedMember",
    "check_auth_code", "check_request_id", "check_template_id", "derive_out_serial_no", "mask_mobile", "mask_name",
    "member_info_from_form", "open_card", "parse_callback_url",
]  # fmt: skip
