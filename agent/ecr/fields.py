"""Request body fields, sans I/O: one strict grammar per kind of field, one BAD_REQUEST per mistake.

Every op reads its body through these, so an id, a number or a text means the same everywhere and
the error names the field and its rule. Numbers and ids are matched with ASCII-only regexes BEFORE
any conversion: Python's int/Decimal/strptime (and `\\d`, `str.isdigit`) also take full-width or
Arabic-Indic digits, underscores, spaces and exponents, which must never reach Alipay.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from agent.alipay.apis import normalise_amount
from agent.alipay.envelope import CHINA_TIME

from .messages import ErrorCode, ProtocolError

ID_RULE = "1-{max} characters from A-Z a-z 0-9 _ . : -"
_ID = re.compile(r"[A-Za-z0-9_.:\-]+", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# Points: an optional minus, no leading zero, at most two decimals (Alipay: "numeric, up to 2 decimals").
_POINTS = re.compile(r"-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?", re.ASCII)
# Stored-value balance in yuan: never negative.
_BALANCE = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)
# ISO 8601 as most ECR languages print it: a 'T', optional fractions, and an offset (or Z) that says which
# clock it is; converted to China time. Without an offset it would be a guess: refused.
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                       r"(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?", re.ASCII)  # fmt: skip
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_JOB_NUMBER = 2**63 - 1  # SQLite's INTEGER


def bad(name: str, rule: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, f"{name} must be {rule}")


def _string(body: dict[str, Any], name: str, required: bool, max_len: int) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} is required")
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise bad(name, f"a string of 1-{max_len} characters")
    return value


def business_id(body: dict[str, Any], name: str, *, max_len: int = 64) -> str:
    """A required id chosen by the ECR (sale_id, job_id, update_id, ...)."""
    value = optional_id(body, name, max_len=max_len)
    if value is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} is required")
    return value


def optional_id(body: dict[str, Any], name: str, *, max_len: int = 64) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    # fullmatch: `$` would also accept a trailing newline.
    if not isinstance(value, str) or len(value) > max_len or not _ID.fullmatch(value):
        raise bad(name, ID_RULE.format(max=max_len))
    return value


def has_control(value: str) -> bool:
    # Cc: C0/C1 controls (ESC would reach the printer as a command); Cs: lone surrogates.
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in value)


def text(body: dict[str, Any], name: str, *, required: bool = True, max_len: int = 256) -> str | None:
    """Free text for people (subjects, slip lines, reasons): any script, no control characters."""
    value = _string(body, name, required, max_len)
    if value is not None and has_control(value):
        raise bad(name, f"1-{max_len} characters without control characters (no tabs, newlines or ESC)")
    return value


def payload(body: dict[str, Any], name: str, *, max_len: int) -> str:
    """Opaque required data printed as a QR code: any characters but NUL and lone surrogates."""
    value = _string(body, name, True, max_len)
    assert value is not None
    if "\x00" in value or any(unicodedata.category(c) == "Cs" for c in value):
        raise bad(name, f"1-{max_len} characters without NUL")
    return value


def amount(body: dict[str, Any], name: str) -> str:
    """A payment amount in yuan, normalised to two decimals ("9.9" -> "9.90"). Strings only: a JSON
    number is refused, as binary floating point cannot say 0.1 exactly and "1e3" is a number too."""
    value = body.get(name)
    if value is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} is required")
    if not isinstance(value, str):
        raise bad(name, 'a string like "9.90" (not a JSON number)')
    try:
        return normalise_amount(value)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc).replace("amount", name, 1)) from None


def digits(body: dict[str, Any], name: str, *, max_len: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len or not _DIGITS.fullmatch(value):
        raise bad(name, f"a string of 1-{max_len} ASCII digits 0-9")
    return value


def points(body: dict[str, Any], name: str) -> str | None:
    """A points value as a string: "1250", "-50", "12.5"; never "-0", "1e3", " 1" or "１"."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _POINTS.fullmatch(value) or _negative_zero(value):
        raise bad(name, 'a string of ASCII digits, optionally negative, at most 2 decimals, like "1250" or "-50"')
    return value


def balance(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _BALANCE.fullmatch(value):
        raise bad(name, 'yuan as a string of ASCII digits, not negative, at most 2 decimals, like "88.50"')
    return value


def _negative_zero(value: str) -> bool:
    return value.startswith("-") and not value.strip("-0.")


TIMESTAMP_RULE = ("'yyyy-MM-dd HH:mm:ss' in China time (UTC+8), or ISO 8601 with its offset "
                  "('2026-03-01T09:30:00+01:00', 'Z' for UTC); ASCII digits, a real date")  # fmt: skip


class TimeFormatError(ValueError):
    """Not a business time; the message (to follow the field's name) says what is wrong."""


def china_timestamp_of(value: str) -> str:
    """'yyyy-MM-dd HH:mm:ss' China time as is, ISO 8601 with an offset converted to it."""
    china = _TIMESTAMP.fullmatch(value) is not None  # the regexes first: strptime also takes '２０２６' and '9:30'
    iso = None if china else _ISO_TIME.fullmatch(value)
    if not china and iso is None:
        raise TimeFormatError(f"must be {TIMESTAMP_RULE}")
    if iso is not None and iso.group("offset") is None:
        raise TimeFormatError("is ISO 8601 without an offset: add it ('+08:00' for China time, 'Z' for UTC), or "
                              "the clock it was read on is a guess")  # fmt: skip
    try:
        if iso is None:
            return datetime.strptime(value, TIMESTAMP_FORMAT).strftime(TIMESTAMP_FORMAT)  # a real date
        return datetime.fromisoformat(value).astimezone(CHINA_TIME).strftime(TIMESTAMP_FORMAT)
    except (ValueError, OverflowError):  # 2026-02-30, an offset that leaves the calendar, another shape
        raise TimeFormatError(f"must be {TIMESTAMP_RULE}") from None


def timestamp(body: dict[str, Any], name: str) -> str:
    """A business time for Alipay: see china_timestamp_of."""
    value = body.get(name)
    if value is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} is required")
    if not isinstance(value, str):
        raise bad(name, TIMESTAMP_RULE)
    try:
        return china_timestamp_of(value)
    except TimeFormatError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} {exc}") from None


def integer(body: dict[str, Any], name: str, *, minimum: int, maximum: int, default: int | None = None) -> int:
    """A JSON integer (not a boolean, not 1.0) within [minimum, maximum]."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise bad(name, f"an integer {minimum}-{maximum}")
    return value


def boolean(body: dict[str, Any], name: str, *, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise bad(name, "true or false")
    return value


def lines(body: dict[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
    value = body.get(name)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value) or len(value) > 200:
        raise bad(name, "a list of at most 200 strings")
    for line in value:
        if not isinstance(line, str) or len(line) > 500 or has_control(line):
            raise bad(name, "a list of strings of at most 500 characters without control characters")
    return tuple(value)
