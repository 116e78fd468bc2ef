"""Requests declaring `charset=GBK`/`GB2312` are read, verified and answered in that charset.

The judge is the official alipay-sdk-python configured with `charset = "GBK"`: it percent-encodes
its parameters as GBK, signs the GBK bytes and verifies the reply over the GBK bytes it received.
Raw requests pin the details: the reply's signature covers the GBK bytes, GB2312 works, and a
character GBK cannot encode comes back as a JSON escape instead of breaking the reply."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus, urlparse

import alipay.aop.api.util.WebUtils as web_utils
import pytest
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.FileItem import FileItem
from alipay.aop.api.request.AlipayMarketingCardTemplateCreateRequest import AlipayMarketingCardTemplateCreateRequest
from alipay.aop.api.request.AlipayMarketingCardTemplateQueryRequest import AlipayMarketingCardTemplateQueryRequest
from alipay.aop.api.request.AlipayOfflineMaterialImageUploadRequest import AlipayOfflineMaterialImageUploadRequest
from alipay.aop.api.request.AlipayTradePayRequest import AlipayTradePayRequest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hardware_sim.gateway import Behaviour, GatewaySimulator, example

from .conftest import APP_ID, PNG, make_template, template_biz, upload_image
from .oapi import TinyClient, parse_reply

TEMPLATE_QUERY = "alipay.marketing.card.template.query"


def _pem_body(pem: bytes | str) -> str:
    text = pem.decode() if isinstance(pem, bytes) else pem
    return "".join(text.strip().splitlines()[1:-1])


def _keep_port(url: str, query_string: str, timeout: int) -> tuple[str, http.client.HTTPConnection]:
    """The SDK's get_http_connection drops the port (reference §11); this one keeps it."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query_string}", connection


@pytest.fixture
def gbk_sdk(
    sim: GatewaySimulator, app_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DefaultAlipayClient]:
    monkeypatch.setattr(web_utils, "get_http_connection", _keep_port)
    monkeypatch.setenv("TZ", "CST-8")  # the SDK stamps datetime.now(): run it as a merchant in China
    time.tzset()
    config = AlipayClientConfig()
    config.server_url, config.app_id, config.charset = sim.url, APP_ID, "GBK"
    config.app_private_key = _pem_body(app_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))  # fmt: skip
    config.alipay_public_key = _pem_body(sim.alipay_public_key_pem)
    yield DefaultAlipayClient(config)
    monkeypatch.undo()
    time.tzset()


def sdk_call(sdk: DefaultAlipayClient, request: Any, biz: dict[str, Any] | None = None) -> dict[str, Any]:
    """execute() raises unless the reply's signature verifies over the GBK bytes received."""
    if biz is not None:
        request.biz_content = biz
    node: dict[str, Any] = json.loads(sdk.execute(request))
    return node


def test_the_official_sdk_in_gbk_mode_round_trips_chinese_text(gbk_sdk: DefaultAlipayClient) -> None:
    images = []
    for name in ("标志", "背景图"):  # multipart text parts in GBK
        upload = AlipayOfflineMaterialImageUploadRequest()
        upload.image_type, upload.image_name = "png", name
        upload.image_content = FileItem(file_name="a.png", file_content=PNG)
        images.append(sdk_call(gbk_sdk, upload)["image_id"])
    biz = template_biz(images[0], images[1], "gbk-req-1")
    biz["template_style_info"]["card_show_name"] = "茶馆会员卡"
    biz["column_info_list"] = [{"code": "POINT", "title": "积分"}]
    template_id = sdk_call(gbk_sdk, AlipayMarketingCardTemplateCreateRequest(), biz)["template_id"]
    queried = sdk_call(gbk_sdk, AlipayMarketingCardTemplateQueryRequest(), {"template_id": template_id})
    assert queried["template_style_info"]["card_show_name"] == "茶馆会员卡"
    assert queried["column_info_list"][0]["title"] == "积分"

    declined = sdk_call(gbk_sdk, AlipayTradePayRequest(), {
        "out_trade_no": "gbk_1", "scene": "bar_code", "auth_code": example(Behaviour.BALANCE_NOT_ENOUGH),
        "subject": "一杯龙井茶", "total_amount": "12.00"})  # fmt: skip
    assert (declined["sub_code"], declined["sub_msg"]) == ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")


def signed_form(client: TinyClient, method: str, charset: str, biz: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Common params for the query, and the body, percent-encoded in `charset` and signed over its bytes."""
    params = client.common(method, charset=charset, biz_content=json.dumps(biz, ensure_ascii=False))
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k])
    signature = client.private_key.sign(content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    params["sign"] = base64.b64encode(signature).decode()
    body = f"biz_content={quote_plus(params.pop('biz_content'), encoding=charset)}".encode("ascii")
    return params, body


@pytest.mark.parametrize("charset", ["GBK", "gbk", "GB2312"])
def test_a_raw_gbk_request_is_verified_over_gbk_bytes_and_answered_in_gbk(client: TinyClient, charset: str) -> None:
    template_id = make_template(client)
    params, body = signed_form(client, "alipay.trade.pay", charset, {
        "out_trade_no": "gbk_raw", "scene": "bar_code", "auth_code": example(Behaviour.PAID),
        "subject": "一杯龙井茶", "total_amount": "12.00"})  # fmt: skip
    query = "&".join(f"{k}={quote_plus(v, encoding=charset)}" for k, v in params.items())
    response = client.http.post(f"{client.url}?{query}", content=body,
                                headers={"Content-Type": f"application/x-www-form-urlencoded;charset={charset}"})  # fmt: skip
    reply = parse_reply(response.status_code, response.content, client.alipay_public_key, "gbk")
    assert reply.verified and reply.code == "10000", reply.node
    assert response.headers["content-type"] == f"application/json;charset={charset.lower()}"

    params, body = signed_form(client, TEMPLATE_QUERY, charset, {"template_id": template_id})
    response = client.http.post(client.url, params=params, content=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    reply = parse_reply(response.status_code, response.content, client.alipay_public_key, "gbk")
    assert reply.verified and reply.node["template_style_info"]["card_show_name"] == "Sim Card"


def test_text_gbk_cannot_encode_comes_back_as_a_json_escape_in_a_signed_gbk_reply(client: TinyClient) -> None:
    logo, background = upload_image(client, "logo"), upload_image(client, "bg")
    biz = template_biz(logo, background, "emoji-1")
    biz["template_style_info"]["card_show_name"] = "茶☕🍵"  # stored by a UTF-8 call
    template_id = client.ok("alipay.marketing.card.template.create", biz)["template_id"]
    params, body = signed_form(client, TEMPLATE_QUERY, "gbk", {"template_id": template_id})
    response = client.http.post(client.url, params=params, content=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded;charset=gbk"})  # fmt: skip
    reply = parse_reply(response.status_code, response.content, client.alipay_public_key, "gbk")
    assert reply.verified and reply.node["template_style_info"]["card_show_name"] == "茶☕🍵"
    assert "茶".encode("gbk") + b"\\u2615\\ud83c\\udf75" in response.content


def test_bytes_that_are_not_the_declared_charset_get_isv_invalid_charset(client: TinyClient) -> None:
    params, _ = signed_form(client, TEMPLATE_QUERY, "gbk", {"template_id": "1"})
    not_gbk = b"biz_content=%80"  # a lone 0x80 is no GBK character
    response = client.http.post(client.url, params=params, content=not_gbk,
                                headers={"Content-Type": "application/x-www-form-urlencoded;charset=gbk"})  # fmt: skip
    reply = parse_reply(response.status_code, response.content, client.alipay_public_key, "gbk")
    assert (reply.status, reply.code, reply.sub_code, reply.verified) == (200, "40002", "isv.invalid-charset", True)
