"""Alipay's wall clock: `yyyy-MM-dd HH:mm:ss` in China time (UTC+8), whatever the host's TZ says."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
_FORMAT = "%Y-%m-%d %H:%M:%S"
_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.ASCII)


def format_china(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, CHINA_TZ).strftime(_FORMAT)


def parse_china(text: str) -> float:
    """Epoch seconds of a China-time `yyyy-MM-dd HH:mm:ss`; ValueError on any other shape."""
    if not _SHAPE.fullmatch(text):
        raise ValueError(f"not yyyy-MM-dd HH:mm:ss: {text!r}")
    return datetime.strptime(text, _FORMAT).replace(tzinfo=CHINA_TZ).timestamp()


def china_date_digits(epoch: float) -> str:
    """`yyyyMMdd` in China time: the prefix of template ids, trade numbers and request ids."""
    return datetime.fromtimestamp(epoch, CHINA_TZ).strftime("%Y%m%d")


def utc_now() -> float:
    return datetime.now(UTC).timestamp()
