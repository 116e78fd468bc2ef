"""alipay.system.oauth.token: auth_code -> user access token (single use, expiring), and refresh.

Errors go under `error_response`, as the real gateway does for this API."""

from __future__ import annotations

from .. import ids
from ..chinatime import format_china
from ..errors import oauth_error
from .context import Context, JsonObject


def token(ctx: Context) -> JsonObject:
    grant_type = ctx.params.get("grant_type", "")
    if grant_type == "authorization_code":
        user_id = _redeem_auth_code(ctx, ctx.params.get("code", ""))
    elif grant_type == "refresh_token":
        user_id = _redeem_refresh_token(ctx, ctx.params.get("refresh_token", ""))
    else:
        raise oauth_error("isv.grant-type-invalid", "不支持的grant_type")
    return _issue(ctx, user_id)


def _redeem_auth_code(ctx: Context, code: str) -> str:
    row = ctx.db.execute("SELECT app_id, user_id, expires, used FROM auth_codes WHERE code = ?", (code,)).fetchone()
    if not code or row is None or row["used"] or row["expires"] <= ctx.now:
        raise oauth_error("isv.code-invalid", "授权码code无效")
    if row["app_id"] != ctx.app_id:
        raise oauth_error("isv.unmatched-app-id", "授权码与应用不匹配")
    ctx.db.execute("UPDATE auth_codes SET used = 1 WHERE code = ?", (code,))
    return str(row["user_id"])


def _redeem_refresh_token(ctx: Context, refresh_token: str) -> str:
    row = ctx.db.execute(
        "SELECT app_id, user_id, re_expires, refreshed FROM tokens WHERE refresh_token = ?", (refresh_token,)
    ).fetchone()
    if not refresh_token or row is None or row["app_id"] != ctx.app_id:
        raise oauth_error("isv.refresh-token-invalid", "刷新令牌refresh_token无效")
    if row["refreshed"]:
        raise oauth_error("isv.refreshed-token-invalid", "刷新令牌已使用过")
    if row["re_expires"] <= ctx.now:
        raise oauth_error("isv.refresh-token-time-out", "刷新令牌refresh_token已过期")
    ctx.db.execute("UPDATE tokens SET refreshed = 1 WHERE refresh_token = ?", (refresh_token,))
    return str(row["user_id"])


def _issue(ctx: Context, user_id: str) -> JsonObject:
    access_token, refresh_token = ids.user_token(), ids.user_token()
    settings = ctx.settings
    ctx.db.execute(
        "INSERT INTO tokens (access_token, refresh_token, app_id, user_id, expires, re_expires, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            access_token, refresh_token, ctx.app_id, user_id,
            ctx.now + settings.access_token_ttl, ctx.now + settings.refresh_token_ttl, ctx.now,
        ),
    )  # fmt: skip
    open_id = ctx.db.execute("SELECT open_id FROM users WHERE user_id = ?", (user_id,)).fetchone()
    # Like the real capture: no code/msg on success; lifetimes are JSON numbers.
    return {
        "access_token": access_token,
        "alipay_user_id": user_id,
        "auth_start": format_china(ctx.now),
        "expires_in": settings.access_token_ttl,
        "open_id": open_id["open_id"] if open_id is not None else "",
        "re_expires_in": settings.refresh_token_ttl,
        "refresh_token": refresh_token,
        "user_id": user_id,
    }


HANDLERS = {"alipay.system.oauth.token": token}
