"""What a handler gets (`Context`) and the field checks every handler shares.

Handlers are `(ctx) -> response node` functions: plain data in, plain data out, errors raised as
`ApiError`; the dispatcher owns HTTP, signatures and the transaction."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..counters import Counters
from ..errors import auth_token_time_out, invalid_auth_token, invalid_parameter
from ..httpparse import UploadedFile

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    base_url: str = "http://127.0.0.1"
    auth_code_ttl: float = 300.0
    access_token_ttl: int = 1296000  # 15 days, as in the real capture
    refresh_token_ttl: int = 2592000  # 30 days


@dataclass
class Context:
    app_id: str
    method: str
    params: Mapping[str, str]
    now: float
    db: sqlite3.Connection
    counters: Counters
    settings: Settings
    files: Mapping[str, UploadedFile] = field(default_factory=dict)
    _biz: JsonObject | None = None

    def biz(self) -> JsonObject:
        """`biz_content` as an object: missing or not a JSON object -> 40002 isv.invalid-parameter."""
        if self._biz is None:
            raw = self.params.get("biz_content", "")
            if not raw:
                raise invalid_parameter("biz_content不能为空")
            try:
                value = json.loads(raw)
            except ValueError:
                raise invalid_parameter("biz_content不是合法的JSON") from None
            if not isinstance(value, dict):
                raise invalid_parameter("biz_content必须是JSON对象")
            self._biz = value
        return self._biz

    def user_of_auth_token(self) -> str:
        """The user behind the `auth_token` common parameter (20001 when missing, unknown, expired)."""
        token = self.params.get("auth_token", "")
        row = self.db.execute("SELECT user_id, app_id, expires FROM tokens WHERE access_token = ?", (token,)).fetchone()
        if not token or row is None or row["app_id"] != self.app_id:
            raise invalid_auth_token()
        if row["expires"] <= self.now:
            raise auth_token_time_out()
        return str(row["user_id"])


Handler = Callable[[Context], JsonObject]


def require_str(obj: Mapping[str, Any], name: str, *, max_len: int | None = None, path: str = "") -> str:
    value = optional_str(obj, name, max_len=max_len, path=path)
    if not value:
        raise invalid_parameter(f"{path}{name}不能为空")
    return value


def optional_str(obj: Mapping[str, Any], name: str, *, max_len: int | None = None, path: str = "") -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_parameter(f"{path}{name}必须是字符串")
    if max_len is not None and len(value) > max_len:
        raise invalid_parameter(f"{path}{name}长度不能超过{max_len}")
    return value


def require_object(obj: Mapping[str, Any], name: str, *, path: str = "") -> JsonObject:
    value = obj.get(name)
    if value is None:
        raise invalid_parameter(f"{path}{name}不能为空")
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}{name}必须是对象")
    return value


def optional_object(obj: Mapping[str, Any], name: str, *, path: str = "") -> JsonObject:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path}{name}必须是对象")
    return value


def optional_list(obj: Mapping[str, Any], name: str, *, path: str = "") -> list[Any]:
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_parameter(f"{path}{name}必须是数组")
    return value


def one_of(value: str, allowed: frozenset[str], name: str) -> str:
    if value not in allowed:
        raise invalid_parameter(f"{name}取值无效")
    return value


AMOUNT = re.compile(r"(0|[1-9]\d{0,9})(\.\d{1,2})?", re.ASCII)
POINT = re.compile(r"-?(0|[1-9]\d{0,17})(\.\d{1,2})?", re.ASCII)
