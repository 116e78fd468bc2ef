"""The OpenAPI protocol without I/O: build a signed request, judge a reply.

`OpenApiProtocol.prepare()` turns a typed request into a `PreparedRequest`; `OpenApiProtocol.parse()`
turns the raw HTTP status and body into the typed result or raises the error of the model in
`errors`. The HTTP shell (`client.AlipayClient`) only moves bytes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from .apis.base import ApiRequest
from .apis.certs import AlipayCertDownload
from .certs import AlipayCert, CertificateError, CertMode, same_public_key, trust_alipay_cert
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
    # Certificate mode: requests carry the two SNs, replies are verified with the key of the Alipay
    # certificate they name (`alipay_public_key` is then the configured certificate's key).
    cert_mode: CertMode | None = None

    def __repr__(self) -> str:
        return (f"Credentials(app_id={self.app_id!r}, isv={self.app_auth_token is not None}, "
                f"cert_mode={self.cert_mode is not None})")  # fmt: skip


class AlipayCertNeeded(Exception):
    """Certificate mode: the reply names an Alipay certificate that is not trusted yet. The HTTP shell
    downloads it (`download_request`), hands the reply to `accept_alipay_cert`, then parses again."""

    def __init__(self, sn: str) -> None:
        super().__init__(f"reply signed with Alipay certificate {sn}, not known yet")
        self.sn = sn


CERT_HINT = ("check alipay_root_cert_file (the Alipay root certificate bundle from the console); if it is "
              "right, the traffic to Alipay is being tampered with")  # fmt: skip


class OpenApiProtocol:
    def __init__(self, credentials: Credentials, gateway_url: str, *, charset: str = "utf-8") -> None:
        self.credentials = credentials
        self.gateway_url = resolve_gateway(gateway_url)
        self.charset = charset
        mode = credentials.cert_mode
        # Alipay certificates already checked against the root bundle, by SN (it grows on rotation).
        self._alipay_certs: dict[str, AlipayCert] = {c.sn: c for c in mode.alipay_certs} if mode else {}

    def trusts(self, sn: str) -> bool:
        return sn in self._alipay_certs

    @property
    def alipay_certs(self) -> list[AlipayCert]:
        return list(self._alipay_certs.values())

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
        if creds.cert_mode is not None:
            params["app_cert_sn"] = creds.cert_mode.app_cert_sn
            params["alipay_root_cert_sn"] = creds.cert_mode.alipay_root_cert_sn
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

    def parse(self, request: ApiRequest[R], status_code: int, body: bytes, *, now: datetime | None = None) -> R:
        """The typed result, or the error of the model. Never anything else, whatever the bytes hold:
        a hostile reply (nested 10,000 levels deep, huge numbers, wrong types) ends as an AlipayError.

        Certificate mode only: `AlipayCertNeeded` when the reply names an Alipay certificate not trusted
        yet; `now` (the HTTP shell always gives it) also refuses a certificate that has expired since."""
        method = request.METHOD
        try:
            return self._parse(request, status_code, body, now)
        except (AlipayError, AlipayCertNeeded):
            raise
        except Exception as exc:  # RecursionError, MemoryError-free oddities of hostile JSON, parser bugs
            raise ResponseVerificationError(
                f"unreadable reply ({type(exc).__name__})", method=method, http_status=status_code
            ) from None

    def _parse(self, request: ApiRequest[R], status_code: int, body: bytes, now: datetime | None) -> R:
        method = request.METHOD
        if status_code != 200:
            # Alipay answers every call with HTTP 200. Anything else comes from a proxy, a load balancer
            # or a portal on the way, which may have answered after Alipay took the request: unknown.
            raise NoAnswerError(f"HTTP {status_code} instead of Alipay's answer; the request may have been "
                                "processed", method=method, http_status=status_code)  # fmt: skip
        node = self._verified_node(method, body, now)
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

    def _verified_node(self, method: str, body: bytes, now: datetime | None) -> ResponseNode:
        try:
            node = locate_response(body, method, self.charset)
        except MalformedResponse as exc:
            raise ResponseVerificationError(f"garbled response: {exc}", method=method, http_status=200) from None
        if self.credentials.cert_mode is not None and method == AlipayCertDownload.METHOD:
            # Signed by the certificate it introduces: verified in accept_alipay_cert, once that
            # certificate is trusted through the root bundle.
            return node
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
        if self.credentials.cert_mode is not None:
            return self._verified_by_certificate(method, node, node.sign, now)
        if _verifies(node, node.sign, self.credentials.alipay_public_key):
            return node
        raise SignatureMismatchError(
            "response signature does not verify with the configured Alipay public key",
            method=method,
            http_status=200,
            hint="check alipay_public_key (it is Alipay's key, not the app's); otherwise the reply was "
            "tampered with on the way",
        )

    def _verified_by_certificate(
        self, method: str, node: ResponseNode, sign: str, now: datetime | None
    ) -> ResponseNode:
        if node.cert_sn == "":
            raise ResponseVerificationError("garbled response: alipay_cert_sn is not a certificate SN",
                                            method=method, http_status=200)  # fmt: skip
        if node.cert_sn is not None and node.cert_sn not in self._alipay_certs:
            raise AlipayCertNeeded(node.cert_sn)
        # A reply without `alipay_cert_sn` (some error replies) is checked against every trusted certificate.
        candidates = [self._alipay_certs[node.cert_sn]] if node.cert_sn else list(self._alipay_certs.values())
        for cert in candidates:
            if now is not None and not cert.valid_at(now):
                if node.cert_sn is None:
                    continue
                raise ResponseVerificationError(
                    f"the reply is signed with Alipay certificate {cert.sn}, which is not valid now (valid "
                    f"until {cert.not_after:%Y-%m-%d %H:%M} UTC)", method=method, http_status=200,
                    hint="check the PC's clock; Alipay's new certificate is downloaded when a reply names it",
                )  # fmt: skip
            if _verifies(node, sign, cert.public_key):
                return node
        raise ResponseVerificationError(
            "response signature does not verify with the Alipay public-key certificate",
            method=method,
            http_status=200,
            hint="check alipay_cert_file (it is Alipay's certificate, not the app's); otherwise the reply was "
            "tampered with on the way",
        )

    def download_request(self, sn: str) -> AlipayCertDownload:
        return AlipayCertDownload(alipay_cert_sn=sn)

    def accept_alipay_cert(self, sn: str, status_code: int, body: bytes, now: datetime) -> AlipayCert:
        """Trust the certificate a download returned, only if it is the one asked for, chains to the root
        bundle and is within its validity. Raises `CertificateError` (with the reason) otherwise."""
        mode = self.credentials.cert_mode
        if mode is None:
            raise CertificateError("not in certificate mode")
        try:
            content = self.parse(self.download_request(sn), status_code, body, now=now)
        except AlipayError as exc:
            raise CertificateError(f"the download of Alipay certificate {sn} failed: {exc.message}") from None
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise CertificateError(f"downloaded Alipay certificate {sn} is not Base64") from None
        cert = trust_alipay_cert(data, mode.roots, now, f"downloaded Alipay certificate {sn}")
        if cert.sn != sn:
            raise CertificateError(f"the download for Alipay certificate {sn} returned certificate {cert.sn}")
        if same_public_key(cert.leaf, self.credentials.app_private_key.public_key()):
            raise CertificateError(f"downloaded Alipay certificate {sn} holds the app's own key")
        self._check_download_signed(sn, cert, body)
        self._alipay_certs[cert.sn] = cert
        return cert

    def _check_download_signed(self, sn: str, cert: AlipayCert, body: bytes) -> None:
        """The download reply is Alipay's too: once its certificate chains, the reply must verify with the
        certificate it names (the new one, or one already trusted), like every other reply."""
        node = locate_response(body, AlipayCertDownload.METHOD, self.charset)  # parse() located it already
        known = {**self._alipay_certs, cert.sn: cert}
        if node.sign is None:
            raise CertificateError(f"the download of Alipay certificate {sn} is not signed")
        if node.cert_sn is not None and node.cert_sn not in known:
            raise CertificateError(f"the download of Alipay certificate {sn} is signed with unknown certificate "
                                   f"{node.cert_sn}")  # fmt: skip
        signers = [known[node.cert_sn]] if node.cert_sn else list(known.values())
        if not any(_verifies(node, node.sign, signer.public_key) for signer in signers):
            raise CertificateError(f"the download of Alipay certificate {sn} does not verify with the certificate "
                                   "it is signed with")  # fmt: skip


def _verifies(node: ResponseNode, sign: str, key: rsa.RSAPublicKey) -> bool:
    if verify_rsa2(node.raw, sign, key):
        return True
    # Some gateways escape '/' as '\/' in the signed text but sign the unescaped form.
    return b"\\/" in node.raw and verify_rsa2(node.raw.replace(b"\\/", b"/"), sign, key)


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


__all__ = ["AlipayCertNeeded", "AlipayError", "Credentials", "OpenApiProtocol", "resolve_gateway"]
