"""Identifiers shaped like the real ones (lengths and alphabets from captured replies)."""

from __future__ import annotations

import secrets
import string

from .chinatime import china_date_digits

_URLSAFE = string.ascii_letters + string.digits


def digits(count: int) -> str:
    return f"{secrets.randbelow(10**count):0{count}d}"


def image_id() -> str:
    return "".join(secrets.choice(_URLSAFE) for _ in range(32))


def template_id(now: float) -> str:
    return china_date_digits(now) + digits(24)  # 32 digits


def user_id() -> str:
    return "2088" + digits(12)  # 16 digits


def open_id() -> str:
    return "0" + "".join(secrets.choice(_URLSAFE) for _ in range(46))  # 47 chars like newer apps


def request_id(now: float) -> str:
    return china_date_digits(now) + digits(21)  # 29 digits, like the callback example


def auth_code() -> str:
    return secrets.token_hex(16)  # 32 chars


def user_token() -> str:
    return "authusrB" + secrets.token_hex(15)[:29] + "X01"  # 40 chars, like the real capture


def app_auth_token(now: float) -> str:
    return china_date_digits(now)[:6] + "BB" + secrets.token_hex(16)  # 40 chars: yyyyMM + BB + 32 hex


def trade_no(now: float) -> str:
    return china_date_digits(now) + "2100100" + digits(13)  # 28 digits


def serial_no(now: float) -> str:
    return china_date_digits(now) + digits(24)
