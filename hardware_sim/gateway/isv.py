"""ISV mode: a merchant authorizes a third-party (ISV) app to call APIs on its behalf.

An authorization links an `app_auth_token` to the ISV app that may use it, the merchant's app it
acts for (`auth_app_id`, with the merchant's `user_id`), the APIs it covers (none listed = all) and
an optional expiry. Alipay creates them when a merchant consents; here tests and demos seed them
(`GatewaySimulator.authorize_isv`, `POST /__admin/app_auths`).

A request carrying `app_auth_token` is checked after its signature (reference §2.3, all 20001 under
`error_response`): unknown, or issued to another ISV app -> `aop.invalid-app-auth-token`; expired ->
`aop.app-auth-token-time-out`; the method not covered -> `aop.invalid-app-auth-token-no-api`.
A valid one makes the call act as the merchant's app: it sees and changes that merchant's state."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import ids
from .errors import ApiError

MAX_TOKEN_LEN = 40  # reference §1.2


@dataclass(frozen=True)
class AppAuth:
    app_auth_token: str
    isv_app_id: str
    auth_app_id: str
    user_id: str
    apis: tuple[str, ...]  # empty: every API
    expires: float | None  # epoch seconds; None: never

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_auth_token": self.app_auth_token,
            "isv_app_id": self.isv_app_id,
            "auth_app_id": self.auth_app_id,
            "user_id": self.user_id,
            "apis": list(self.apis),
            "expires": self.expires,
        }


def authorize(
    db: sqlite3.Connection,
    *,
    isv_app_id: str,
    auth_app_id: str,
    known_methods: Iterable[str],
    now: float,
    apis: Iterable[str] | None = None,
    expires_in: float | None = None,
    app_auth_token: str | None = None,
) -> AppAuth:
    """Record an authorization; ValueError (with the reason) for any bad argument."""
    for name, value in (("isv_app_id", isv_app_id), ("auth_app_id", auth_app_id)):
        if not isinstance(value, str) or not 1 <= len(value) <= 32:
            raise ValueError(f"{name} must be 1-32 characters")
    if apis is not None and (not isinstance(apis, list | tuple) or not all(isinstance(a, str) for a in apis)):
        raise ValueError("apis must be a list of API method names")
    covered = tuple(sorted(set(apis or ())))
    unknown = sorted(set(covered) - set(known_methods))
    if unknown:
        raise ValueError(f"unknown API methods in apis: {', '.join(unknown)}")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
                                   or not expires_in > 0):  # fmt: skip
        raise ValueError("expires_in must be a positive number of seconds (or absent: never expires)")
    token = ids.app_auth_token(now) if app_auth_token is None else app_auth_token
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN_LEN or not token.isprintable():
        raise ValueError(f"app_auth_token must be 1-{MAX_TOKEN_LEN} printable characters")
    if db.execute("SELECT 1 FROM app_auths WHERE app_auth_token = ?", (token,)).fetchone():
        raise ValueError("that app_auth_token already exists")
    auth = AppAuth(token, isv_app_id, auth_app_id, ids.user_id(), covered,
                   None if expires_in is None else now + float(expires_in))  # fmt: skip
    db.execute(
        "INSERT INTO app_auths (app_auth_token, isv_app_id, auth_app_id, user_id, apis, expires, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            auth.app_auth_token,
            auth.isv_app_id,
            auth.auth_app_id,
            auth.user_id,
            json.dumps(auth.apis),
            auth.expires,
            now,
        ),
    )
    return auth


def acting_app_id(db: sqlite3.Connection, params: Mapping[str, str], now: float) -> str:
    """The app whose state the call uses: the caller's own, or the authorizing merchant's (ISV mode)."""
    app_id, token = params.get("app_id", ""), params.get("app_auth_token", "")
    if not token:
        return app_id
    row = db.execute("SELECT * FROM app_auths WHERE app_auth_token = ?", (token,)).fetchone()
    if row is None or row["isv_app_id"] != app_id:
        raise _token_error("aop.invalid-app-auth-token", "无效的应用授权令牌")
    if row["expires"] is not None and row["expires"] <= now:
        raise _token_error("aop.app-auth-token-time-out", "应用授权令牌已过期")
    apis = json.loads(row["apis"])
    if apis and params.get("method", "") not in apis:
        raise _token_error("aop.invalid-app-auth-token-no-api", "应用授权令牌未授权调用该接口")
    return str(row["auth_app_id"])


def _token_error(sub_code: str, sub_msg: str) -> ApiError:
    return ApiError("20001", sub_code, sub_msg, placement="error_response")
