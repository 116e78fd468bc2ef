"""The official alipay-sdk-python, as an independent judge, accepts the agent's request signatures.

The SDK computes the string to sign itself (`get_sign_content`) from the parameters the agent sends
and checks the agent's `sign` with its own RSA code (pure-Python `rsa`).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay import Credentials, OpenApiProtocol, apis

NOW = datetime(2026, 11, 25, 11, 37, 30, tzinfo=UTC)


def _body(pem: bytes) -> str:
    return "".join(pem.decode().strip().splitlines()[1:-1])


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def protocol(app_key: rsa.RSAPrivateKey) -> OpenApiProtocol:
    alipay = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return OpenApiProtocol(Credentials("2021000000000001", app_key, alipay, "isvtoken1"), "sandbox")


REQUESTS: list[apis.ApiRequest[object]] = [
    apis.ImageUpload("png", "logo", b"\x89PNG\r\n\x1a\n"),
    apis.TemplateCreate(request_id="req1", biz_no_suffix_len=10, biz_no_prefix="VIP",
                        template_style_info={"card_show_name": "会员卡", "logo_id": "L", "background_id": "B"},
                        write_off_type="qrcode", template={"column_info_list": [{"code": "POINT", "title": "积分"}]}),
    apis.FormTemplateSet(template_id="T", required=["mobile", "name"], optional=["gender"]),
    apis.ActivateUrlApply(template_id="T", callback="https://merchant.example/cb", out_string="s1:t1:e1"),
    apis.OAuthToken(code="7f3dc16c1f8641a39e8a27f95abcQX20"),
    apis.ActivateFormQuery(template_id="T", request_id="2019050801023137062315814123", auth_token="authusrB1"),
    apis.CardOpen(out_serial_no="o1", card_template_id="T", auth_token="authusrB1", user_id="2088102169481075",
                  card_ext_info=apis.CardInfo(external_card_no="EXT1", point="0", level="VIP1"),
                  member_ext_info=apis.MemberInfo(name="李飞", cell="13552319194")),
    apis.CardUpdate(target_card_no="VIP0000000001", occur_time="2024-01-01 12:00:00",
                    card_info=apis.CardInfo(point="120", balance="9.90"), changed_point="20",
                    change_reason="消费", notify_types=("POINT_UPDATE",)),
    apis.CardQuery(target_card_no="VIP0000000001"),
    apis.CardDelete(out_serial_no="d1", target_card_no="VIP0000000001"),
    apis.TradePay(out_trade_no="S1_T1_0001_1", auth_code="287654321098765432", subject="Till 1", total_amount="9.9"),
    apis.TradeQuery(out_trade_no="S1_T1_0001_1"),
    apis.TradeCancel(out_trade_no="S1_T1_0001_1"),
]  # fmt: skip


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.METHOD)
def test_official_sdk_verifies_the_agent_signature(
    protocol: OpenApiProtocol, app_key: rsa.RSAPrivateKey, request_: apis.ApiRequest[object]
) -> None:
    prepared = protocol.prepare(request_, NOW)
    params = prepared.signed_params
    sign = params.pop("sign")
    content = get_sign_content(params)  # the SDK's own string to sign, from what we send
    public = _body(app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    assert verify_with_rsa(public, content.encode("utf-8"), sign)


def test_the_sdk_and_the_agent_produce_the_same_signature(
    protocol: OpenApiProtocol, app_key: rsa.RSAPrivateKey
) -> None:
    # RSA PKCS#1 v1.5 is deterministic: the same string and key give the same bytes.
    prepared = protocol.prepare(REQUESTS[7], NOW)
    params = prepared.signed_params
    ours = params.pop("sign")
    pkcs1 = _body(app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()))  # fmt: skip
    theirs = sign_with_rsa2(pkcs1, get_sign_content(params), "utf-8")
    assert base64.b64decode(ours) == base64.b64decode(theirs)
