"""The gateway's error type and the real code/msg/sub_code texts it uses.

Handlers raise `ApiError`; the dispatcher turns it into a response node. `placement` says where the
real gateway puts it: inside the `<method>_response` node, or under `error_response`
(oauth and access-token problems)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Placement = Literal["method", "error_response"]

MSG_BY_CODE: dict[str, str] = {
    "10000": "Success",
    "10003": " order success pay inprocess",  # the leading space is real
    "20000": "Service Currently Unavailable",
    "20001": "Insufficient Token Permissions",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40003": "Insufficient Conditions",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}


@dataclass(frozen=True)
class ApiError(Exception):
    """A failure reply: `code` picks the real `msg`; `sub_code`/`sub_msg` say what went wrong."""

    code: str
    sub_code: str
    sub_msg: str
    placement: Placement = "method"
    extra: tuple[tuple[str, str], ...] = ()  # business fields real replies keep on failure (amounts...)

    @property
    def msg(self) -> str:
        return MSG_BY_CODE[self.code]

    def node(self) -> dict[str, object]:
        node: dict[str, object] = {
            "code": self.code,
            "msg": self.msg,
            "sub_code": self.sub_code,
            "sub_msg": self.sub_msg,
        }
        node.update(dict(self.extra))
        return node

    def __str__(self) -> str:
        return f"{self.code} {self.sub_code}: {self.sub_msg}"


def invalid_parameter(detail: str) -> ApiError:
    return ApiError("40002", "isv.invalid-parameter", f"参数无效: {detail}")


def missing(sub_code: str, what: str) -> ApiError:
    return ApiError("40001", sub_code, f"缺少{what}参数")


def business(sub_code: str, sub_msg: str, **extra: str) -> ApiError:
    return ApiError("40004", sub_code, sub_msg, extra=tuple(extra.items()))


def invalid_auth_token() -> ApiError:
    return ApiError("20001", "aop.invalid-auth-token", "无效的访问令牌", placement="error_response")


def auth_token_time_out() -> ApiError:
    return ApiError("20001", "aop.auth-token-time-out", "访问令牌已过期", placement="error_response")


def oauth_error(sub_code: str, sub_msg: str) -> ApiError:
    return ApiError("40002", sub_code, sub_msg, placement="error_response")


SERVICE_UNAVAILABLE = ApiError("20000", "isp.unknow-error", "系统繁忙")
