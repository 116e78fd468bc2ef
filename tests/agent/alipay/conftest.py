"""Keys and a fake gateway (httpx.MockTransport) for the OpenAPI client's tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agent.alipay import Credentials


@dataclass(frozen=True)
class KeySet:
    app_private: rsa.RSAPrivateKey
    alipay_private: rsa.RSAPrivateKey
    other_private: rsa.RSAPrivateKey

    @property
    def credentials(self) -> Credentials:
        return Credentials("2021000000000001", self.app_private, self.alipay_private.public_key())


@pytest.fixture(scope="session")
def keys() -> KeySet:
    def new() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return KeySet(new(), new(), new())


def rsa2_sign(key: rsa.RSAPrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_body(node_name: str, node_json: str, key: rsa.RSAPrivateKey | None) -> bytes:
    """A gateway reply whose node text is exactly `node_json`, signed over those bytes."""
    if key is None:
        return f'{{"{node_name}":{node_json}}}'.encode()
    return f'{{"{node_name}":{node_json},"sign":"{rsa2_sign(key, node_json.encode())}"}}'.encode()


def pkcs1_body(key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return "".join(pem.strip().splitlines()[1:-1])


def spki_body(key: rsa.RSAPublicKey) -> str:
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return "".join(pem.strip().splitlines()[1:-1])


@dataclass
class FakeGateway:
    """Records requests; answers with `reply(params) -> (status, body)` or raises what `reply` raises."""

    reply: Callable[[dict[str, str]], tuple[int, bytes]]
    requests: list[httpx.Request] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        merged = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            merged.update(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.params.append(merged)
        status, body = self.reply(merged)
        return httpx.Response(status, content=body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def node_for(method: str, fields: dict[str, Any]) -> tuple[str, str]:
    return method.replace(".", "_") + "_response", json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
