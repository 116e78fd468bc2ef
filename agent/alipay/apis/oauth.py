"""`alipay.system.oauth.token`: exchange the customer's one-time auth_code for an access token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import ApiRequest, opt_str, req_str


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    user_id: str | None
    open_id: str | None
    expires_in: int | None
    refresh_token: str | None
    re_expires_in: int | None
    auth_start: str | None

    def __repr__(self) -> str:  # tokens are secrets: never in logs or tracebacks
        return f"AccessToken(user_id={self.user_id!r}, open_id={self.open_id!r}, expires_in={self.expires_in})"


def _opt_int(node: Mapping[str, Any], key: str) -> int | None:
    value = node.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} is not an integer") from None


@dataclass(frozen=True, repr=False)
class OAuthToken(ApiRequest[AccessToken]):
    METHOD = "alipay.system.oauth.token"
    code: str | None = None
    refresh_token: str | None = None

    def __post_init__(self) -> None:
        if (self.code is None) == (self.refresh_token is None):
            raise ValueError("give exactly one of code (auth_code) or refresh_token")

    def __repr__(self) -> str:
        return "OAuthToken(<secret>)"

    def text_params(self) -> dict[str, str]:
        if self.code is not None:
            return {"grant_type": "authorization_code", "code": self.code}
        assert self.refresh_token is not None
        return {"grant_type": "refresh_token", "refresh_token": self.refresh_token}

    def parse(self, node: Mapping[str, Any]) -> AccessToken:
        token = AccessToken(
            access_token=req_str(node, "access_token", self.METHOD),
            user_id=opt_str(node, "user_id"),
            open_id=opt_str(node, "open_id"),
            expires_in=_opt_int(node, "expires_in"),
            refresh_token=opt_str(node, "refresh_token"),
            re_expires_in=_opt_int(node, "re_expires_in"),
            auth_start=opt_str(node, "auth_start"),
        )
        if token.user_id is None and token.open_id is None:
            raise ValueError(f"{self.METHOD}: success reply with neither user_id nor open_id")
        return token
