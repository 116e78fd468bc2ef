"""The OpenAPI protocol without I/O: build a signed request, judge a reply.

`OpenApiProtocol.prepare()` turns a typed request into a `PreparedRequest`; `OpenApiProtocol.parse()`
turns the raw HTTP status and body into the typed result or raises the error of the model in
`errors`. The HTTP shell (`client.AlipayClient`) only moves bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from .apis.base import ApiRequest
from .envelope import (
    MalformedResponse,
    PreparedRequest,
    ResponseNode,
    china_timestamp,
    encode_biz_content,
    locate_response,
    split_params,
)
from .errors import (
    AlipayError,
    ConfigurationError,
    GatewayReply,
    NoAnswerError,
    ResponseVerificationError,
    SignatureMismatchError,
    UnknownOutcomeError,
    classify,
)
from .signing import sign_params, verify_rsa2

R = TypeVar("R")

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
SANDBOX_GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
GATEWAYS = {"production": PRODUCTION_GATEWAY, "sandbox": SANDBOX_GATEWAY}


def resolve_gateway(name_or_url: str) -> str:
    """`production`, `sandbox`, or a custom http(s) URL (a proxy, a simulator)."""
    if name_or_url in GATEWAYS:
        return GATEWAYS[name_or_url]
    if name_or_url.startswith(("https://", "http://")):
        return name_or_url
    raise ValueError(f"gateway must be 'production', 'sandbox' or an http(s) URL, not {name_or_url!r}")


@dataclass(frozen=True)
class Credentials:
    app_id: str
    app_private_key: rsa.RSAPrivateKey
    alipay_public_key: rsa.RSAPublicKey
    app_auth_token: str | None = None  # ISV mode: acting for a merchant

    def __repr__(self) -> str:
        return f"Credentials(app_id={self.app_id!r}, isv={self.app_auth_token is not None})"


class OpenApiProtocol:
    def __init__(self, credentials: Credentials, gateway_url: str, *, charset: str = "utf-8") -> None:
        self.credentials = credentials
        self.gateway_url = resolve_gateway(gateway_url)
        self.charset = charset

    def prepare(self, request: ApiRequest[Any], now: datetime) -> PreparedRequest:
        creds = self.credentials
        params: dict[str, str] = {
            "app_id": creds.app_id,
            "method": request.METHOD,
            "format": "json",
            "charset": self.charset,
            "sign_type": "RSA2",
            "timestamp": china_timestamp(now),
            "version": "1.0",
        }
        if creds.app_auth_token:
            params["app_auth_token"] = creds.app_auth_token
        token = request.user_auth_token()
        if token:
            params["auth_token"] = token
        biz = request.biz_content()
        if biz is not None:
            params["biz_content"] = encode_biz_content(biz)
        params.update(request.text_params())
        # Empty values are neither signed nor sent: the gateway would sign what it did not receive.
        params = {k: v for k, v in params.items() if v}
        params["sign"] = sign_params(params, creds.app_private_key, self.charset)
        query, body = split_params(params)
        return PreparedRequest(request.METHOD, self.gateway_url, query, body, request.files())

    def parse(self, request: ApiRequest[R], status_code: int, body: bytes) -> R:
        """The typed result, or the error of the model. Never anything else, whatever the bytes hold:
        a hostile reply (nested 10,000 levels deep, huge numbers, wrong types) ends as an AlipayError."""
        method = request.METHOD
        try:
            return self._parse(request, status_code, body)
        except AlipayError:
            raise
        except Exception as exc:  # RecursionError, MemoryError-free oddities of hostile JSON, parser bugs
            raise ResponseVerificationError(
                f"unreadable reply ({type(exc).__name__})", method=method, http_status=status_code
            ) from None

    def _parse(self, request: ApiRequest[R], status_code: int, body: bytes) -> R:
        method = request.METHOD
        if status_code != 200:
            # Alipay answers every call with HTTP 200. Anything else comes from a proxy, a load balancer
            # or a portal on the way, which may have answered after Alipay took the request: unknown.
            raise NoAnswerError(f"HTTP {status_code} instead of Alipay's answer; the request may have been "
                                "processed", method=method, http_status=status_code)  # fmt: skip
        node = self._verified_node(method, body)
        data = node.data
        reply = GatewayReply(_text(data.get("code")), _text(data.get("msg")), _text(data.get("sub_code")),
                             _text(data.get("sub_msg")))  # fmt: skip
        if node.name == "error_response":
            error_class = classify(method, reply.code, reply.sub_code) or UnknownOutcomeError
        elif reply.code is None and reply.sub_code is None:
            error_class = None  # some success replies (oauth) carry no code at all
        else:
            error_class = classify(method, reply.code, reply.sub_code)
        if error_class is not None:
            raise error_class(reply.msg or "gateway error", method=method, reply=reply, http_status=status_code)
        try:
            return request.parse(data)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise UnknownOutcomeError(f"unexpected success reply: {type(exc).__name__}", method=method,
                                      reply=reply) from None  # fmt: skip

    def _verified_node(self, method: str, body: bytes) -> ResponseNode:
        try:
            node = locate_response(body, method, self.charset)
        except MalformedResponse as exc:
            raise ResponseVerificationError(f"garbled response: {exc}", method=method, http_status=200) from None
        if node.sign is None:
            data = node.data
            # The real gateway cannot sign when it does not know the app: say so, but trust nothing else.
            if data.get("sub_code") == "isv.invalid-app-id":
                raise ConfigurationError(
                    "unsigned reply: the gateway does not know this app id",
                    method=method,
                    reply=GatewayReply(_text(data.get("code")), _text(data.get("msg")), "isv.invalid-app-id"),
                    http_status=200,
                )
            raise ResponseVerificationError("response is not signed", method=method, http_status=200)
        key = self.credentials.alipay_public_key
        if verify_rsa2(node.raw, node.sign, key):
            return node
        # Some gateways escape '/' as '\/' in the signed text but sign the unescaped form.
        if b"\\/" in node.raw and verify_rsa2(node.raw.replace(b"\\/", b"/"), node.sign, key):
            return node
        raise SignatureMismatchError(
            "response signature does not verify with the configured Alipay public key",
            method=method,
            http_status=200,
            hint="check alipay_public_key (it is Alipay's key, not the app's); otherwise the reply was "
            "tampered with on the way",
        )


_MAX_FIELD_CHARS = 2048  # code, msg, sub_code, sub_msg: Alipay's are short; a longer one is not believed


def _text(value: Any) -> str | None:
    """A reply field as text. Only strings and plain numbers are; anything else (lists, objects, huge
    numbers) makes the reply unreadable rather than being rendered, which can itself fail."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedResponse("a reply field has the wrong type")
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _MAX_FIELD_CHARS:
        raise MalformedResponse("a reply field is too long")
    return text


__all__ = ["AlipayError", "Credentials", "OpenApiProtocol", "resolve_gateway"]
