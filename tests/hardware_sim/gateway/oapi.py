"""The tests' own tiny OpenAPI client: signs requests and checks response signatures.

Written here on purpose, sharing nothing with the agent or the simulator, so a bug in either side
cannot cancel itself out."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CHINA = timedelta(hours=8)


def china_time(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC) + CHINA
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def sign_params(params: dict[str, str], key: rsa.RSAPrivateKey) -> str:
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])
    return base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Reply:
    status: int
    body: bytes
    key: str
    node: dict[str, Any]
    signed: bool
    verified: bool

    @property
    def code(self) -> str:
        return str(self.node.get("code", ""))

    @property
    def sub_code(self) -> str:
        return str(self.node.get("sub_code", ""))


def parse_reply(status: int, body: bytes, alipay_public_key: rsa.RSAPublicKey, charset: str = "utf-8") -> Reply:
    """Split `{"<key>":{node},"sign":"..."}` byte-exactly and verify the node bytes."""
    assert body.startswith(b'{"'), body[:80]
    key_end = body.index(b'":')
    key = body[2:key_end].decode()
    marker = body.rfind(b',"sign":"')
    node_bytes = body[key_end + 2 : marker] if marker != -1 else body[key_end + 2 : -1]
    verified = False
    if marker != -1:
        signature = base64.b64decode(body[marker + 9 : -2])
        try:
            alipay_public_key.verify(signature, node_bytes, padding.PKCS1v15(), hashes.SHA256())
            verified = True
        except InvalidSignature:
            verified = False
    return Reply(status, body, key, json.loads(node_bytes.decode(charset)), marker != -1, verified)


class TinyClient:
    def __init__(self, url: str, app_id: str, private_key: rsa.RSAPrivateKey, alipay_public_key_pem: str) -> None:
        self.url = url
        self.app_id = app_id
        self.private_key = private_key
        loaded = serialization.load_pem_public_key(alipay_public_key_pem.encode())
        assert isinstance(loaded, rsa.RSAPublicKey)
        self.alipay_public_key = loaded
        self.http = httpx.Client(timeout=10.0)
        self.clock = time.time

    def close(self) -> None:
        self.http.close()

    def common(self, method: str, **extra: str) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "json",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": china_time(self.clock()),
            "version": "1.0",
        }
        params.update(extra)
        return params

    def call(
        self,
        method: str,
        biz: dict[str, Any] | None = None,
        *,
        text: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth_token: str | None = None,
        override: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        sign_with: rsa.RSAPrivateKey | None = None,
        get: bool = False,
    ) -> Reply:
        """Sign and send like the official SDK: common params in the query, the rest in the body."""
        response = self.send(method, biz, text=text, files=files, auth_token=auth_token, override=override,
                             drop=drop, sign_with=sign_with, get=get)  # fmt: skip
        charset = (override or {}).get("charset", "utf-8")
        return parse_reply(response.status_code, response.content, self.alipay_public_key, charset)

    def send(
        self,
        method: str,
        biz: dict[str, Any] | None = None,
        *,
        text: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth_token: str | None = None,
        override: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        sign_with: rsa.RSAPrivateKey | None = None,
        get: bool = False,
    ) -> httpx.Response:
        """`call` without judging the reply: the raw HTTP response."""
        common = self.common(method)
        if auth_token:
            common["auth_token"] = auth_token
        body_params: dict[str, str] = dict(text or {})
        if biz is not None:
            body_params["biz_content"] = json.dumps(biz, ensure_ascii=False, separators=(",", ":"))
        common.update(override or {})
        signed = {**common, **body_params}
        for name in drop:
            common.pop(name, None)
            body_params.pop(name, None)
            signed.pop(name, None)
        if "sign" not in drop and "sign" not in (override or {}):
            common["sign"] = sign_params(signed, sign_with or self.private_key)
        if get:
            return self.http.get(self.url, params={**common, **body_params})
        if files:
            return self.http.post(self.url, params=common, data=body_params, files=files)
        return self.http.post(self.url, params=common, data=body_params)

    def ok(self, method: str, biz: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        reply = self.call(method, biz, **kwargs)
        assert reply.verified, reply.body
        assert "sub_code" not in reply.node, reply.node
        return reply.node
