"""The error model: every call ends in success or exactly one of these.

    AlipayError
    ├── BusinessError          definite failure (declined, code invalid, card not found...): don't retry as is
    ├── ConfigurationError     bad key, unknown app id, missing permission, clock: a person must fix it
    └── TransientError
        ├── RetryableError     Alipay said nothing happened (20000 on a call that moves no money):
        │   │                  retry with the same params
        │   └── GatewayUnreachableError   the request provably never left this PC (connection refused,
        │                                 DNS or TLS failure, connect timeout)
        └── UnknownOutcomeError   the request may have taken effect: retry only with the same
            │                     idempotency key, or query first (20000 / ACQ.SYSTEM_ERROR on trade.pay,
            │                     a verified reply with a code we do not know)
            ├── NoAnswerError     sent, but no answer from Alipay: read timeout, reset or truncated reply
            │                     after the request was written, any HTTP status other than 200 (a 502/503/504
            │                     from a proxy or load balancer may come after Alipay took the money)
            └── ResponseVerificationError   unsigned, badly signed, garbled or hostile reply: never a success

The rule for money: only `GatewayUnreachableError` proves a request was not sent. Everything else
about a money-moving call that is not a verified definite answer is unknown and is resolved by query
(then cancel). `classify()` is the pure decision from (method, code, sub_code) to one of these classes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatewayReply:
    code: str | None = None
    msg: str | None = None
    sub_code: str | None = None
    sub_msg: str | None = None


class AlipayError(Exception):
    """Carries what the gateway said (if anything) and what to do about it."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        method: str,
        reply: GatewayReply | None = None,
        http_status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.reply = reply or GatewayReply()
        self.http_status = http_status
        self.hint = hint if hint is not None else hint_for(self.reply.sub_code, self.reply.code)

    @property
    def code(self) -> str | None:
        return self.reply.code

    @property
    def msg(self) -> str | None:
        return self.reply.msg

    @property
    def sub_code(self) -> str | None:
        return self.reply.sub_code

    @property
    def sub_msg(self) -> str | None:
        return self.reply.sub_msg

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "kind": self.kind,
            "method": self.method,
            "message": self.message,
            "code": self.code,
            "msg": self.msg,
            "sub_code": self.sub_code,
            "sub_msg": self.sub_msg,
            "http_status": self.http_status,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        parts = [f"{self.method}: {self.message}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.sub_code:
            parts.append(f"sub_code={self.sub_code}")
        if self.sub_msg:
            parts.append(f"sub_msg={self.sub_msg}")
        return " ".join(parts)


class BusinessError(AlipayError):
    kind = "business_failure"


class ConfigurationError(AlipayError):
    kind = "configuration_error"


class TransientError(AlipayError):
    kind = "transient"


class RetryableError(TransientError):
    kind = "retryable"


class GatewayUnreachableError(RetryableError):
    """No connection could be made: the request never left this PC."""

    kind = "unreachable"


class UnknownOutcomeError(TransientError):
    kind = "unknown_outcome"


class NoAnswerError(UnknownOutcomeError):
    """The request was (or may have been) written, and no verified answer came back."""

    kind = "no_answer"


class ResponseVerificationError(UnknownOutcomeError):
    kind = "unverified_response"


class SignatureMismatchError(ResponseVerificationError):
    """A well-formed, signed reply whose signature does not verify with alipay_public_key_file: almost
    always the wrong key (a set-up problem that no retry fixes), rarely a reply altered on the way.
    Still an unknown outcome for the money flows; the CLI reports it as a set-up problem."""


SUCCESS_CODE = "10000"
PAY_IN_PROCESS_CODE = "10003"

# 40002 sub_codes that mean our set-up is wrong, not the business request.
_CONFIG_SUB_CODES = frozenset(
    {
        "isv.invalid-signature", "isv.invalid-signature-type", "isv.invalid-app-id", "isv.invalid-timestamp",
        "isv.invalid-charset", "isv.invalid-format", "isv.invalid-method", "isv.missing-signature-config",
        "isv.not-support-app-auth", "isv.invalid-encrypt-type", "isv.invalid-encrypt", "isv.invalid-digest",
        "isv.unmatched-app-id",
    }
)  # fmt: skip
_APP_AUTH_SUB_CODES = frozenset(
    {"aop.invalid-app-auth-token", "aop.invalid-app-auth-token-no-api", "aop.app-auth-token-time-out",
     "aop.no-product-reg-by-partner"}
)  # fmt: skip
# trade.pay is not idempotent in effect: "unavailable" there may mean "paid". Query before anything else.
_PAY_METHODS = frozenset({"alipay.trade.pay"})
# Business answers to trade.pay that do not say the payment failed: the order number may be paid.
_PAY_MAYBE_PAID_SUB_CODES = frozenset({"ACQ.TRADE_HAS_SUCCESS"})


def classify(method: str, code: str | None, sub_code: str | None) -> type[AlipayError] | None:
    """None for success (10000, and 10003 for trade.pay); otherwise the error class to raise."""
    if code == SUCCESS_CODE and not sub_code:
        return None
    if code == PAY_IN_PROCESS_CODE and method in _PAY_METHODS and not sub_code:
        return None
    if code == "20000" or sub_code == "ACQ.SYSTEM_ERROR":
        return UnknownOutcomeError if method in _PAY_METHODS else RetryableError
    if method in _PAY_METHODS and sub_code in _PAY_MAYBE_PAID_SUB_CODES:
        return UnknownOutcomeError
    if code == "20001":
        return ConfigurationError if sub_code in _APP_AUTH_SUB_CODES else BusinessError
    if code in ("40001", "40006"):
        return ConfigurationError
    if code == "40002":
        return ConfigurationError if sub_code in _CONFIG_SUB_CODES else BusinessError
    if code in ("40003", "40004"):
        return BusinessError
    # An unknown code tells us nothing about whether the call took effect.
    return UnknownOutcomeError


_HINTS: dict[str, str] = {
    "isv.invalid-signature": "the app private key does not match the public key uploaded in the Alipay console",
    "isv.missing-signature": "the request was not signed: check the app private key configuration",
    "isv.invalid-app-id": "the app id is unknown to this gateway: check alipay.app_id and the gateway URL "
    "(sandbox and production apps differ)",
    "isv.invalid-timestamp": "the store PC's clock is wrong: fix the time (NTP) and retry",
    "isv.code-invalid": "the customer's authorisation has expired or was already used: ask the customer to "
    "scan the activation QR again",
    "isv.invalid-parameter": "a request field is invalid: see sub_msg",
    "isv.missing-signature-config": "no public key is configured for this app in the Alipay console",
    "aop.invalid-auth-token": "the customer's access token is invalid: ask the customer to scan again",
    "aop.auth-token-time-out": "the customer's access token expired: ask the customer to scan again",
    "aop.invalid-app-auth-token": "the ISV app_auth_token is invalid: ask the merchant to re-authorise the ISV",
    "aop.app-auth-token-time-out": "the ISV app_auth_token expired: ask the merchant to re-authorise the ISV",
    "isv.insufficient-isv-permissions": "the app lacks this product: sign it in the Alipay console",
    "isv.insufficient-user-permissions": "the merchant has not granted this permission",
    "ACQ.BUYER_BALANCE_NOT_ENOUGH": "the customer's balance is not enough: ask for another payment method",
    "ACQ.PAYMENT_AUTH_CODE_INVALID": "the payment code is invalid or expired: ask the customer to refresh it",
    "ACQ.TRADE_HAS_SUCCESS": "this order number was already paid",
    "ACQ.TRADE_HAS_CLOSE": "this order number is closed: start a new attempt",
    "ACQ.CONTEXT_INCONSISTENT": "this order number was used with different parameters",
    "ACQ.SYSTEM_ERROR": "Alipay had an internal error: query the trade before doing anything else",
    "aop.unknow-error": "Alipay is temporarily unavailable: retry with the same request",
    "isp.unknow-error": "Alipay is temporarily unavailable: retry with the same request",
}
_CODE_HINTS: dict[str, str] = {
    "20000": "Alipay is temporarily unavailable: retry with the same request",
    "40006": "the app lacks a permission for this API: sign the product in the Alipay console",
}


def hint_for(sub_code: str | None, code: str | None = None) -> str | None:
    if sub_code and sub_code in _HINTS:
        return _HINTS[sub_code]
    if code and code in _CODE_HINTS:
        return _CODE_HINTS[code]
    return None
