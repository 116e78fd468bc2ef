"""The official alipay-sdk-python, an independent client, drives every simulated API over HTTP.

Its own signing is what the simulator must accept, and its own response verification (execute()
raises on a missing or bad signature) must accept every reply. The SDK signs with pure-Python RSA
(~30 ms a call), so the calls are few and chained: one card lifecycle, one set of payments."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import alipay.aop.api.util.WebUtils as web_utils
import pytest
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.exception.Exception import ResponseException
from alipay.aop.api.FileItem import FileItem
from alipay.aop.api.request.AlipayMarketingCardActivateformQueryRequest import (
    AlipayMarketingCardActivateformQueryRequest,
)
from alipay.aop.api.request.AlipayMarketingCardActivateurlApplyRequest import (
    AlipayMarketingCardActivateurlApplyRequest,
)
from alipay.aop.api.request.AlipayMarketingCardDeleteRequest import AlipayMarketingCardDeleteRequest
from alipay.aop.api.request.AlipayMarketingCardFormtemplateSetRequest import (
    AlipayMarketingCardFormtemplateSetRequest,
)
from alipay.aop.api.request.AlipayMarketingCardOpenRequest import AlipayMarketingCardOpenRequest
from alipay.aop.api.request.AlipayMarketingCardQueryRequest import AlipayMarketingCardQueryRequest
from alipay.aop.api.request.AlipayMarketingCardTemplateCreateRequest import AlipayMarketingCardTemplateCreateRequest
from alipay.aop.api.request.AlipayMarketingCardTemplateQueryRequest import AlipayMarketingCardTemplateQueryRequest
from alipay.aop.api.request.AlipayMarketingCardUpdateRequest import AlipayMarketingCardUpdateRequest
from alipay.aop.api.request.AlipayOfflineMaterialImageUploadRequest import AlipayOfflineMaterialImageUploadRequest
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import AlipaySystemOauthTokenRequest
from alipay.aop.api.request.AlipayTradeCancelRequest import AlipayTradeCancelRequest
from alipay.aop.api.request.AlipayTradePayRequest import AlipayTradePayRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.customer import open_card
from hardware_sim.gateway import Behaviour, GatewaySimulator, example

APP_ID = "2021000000000001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _body(pem: bytes | str) -> str:
    text = pem.decode() if isinstance(pem, bytes) else pem
    return "".join(text.strip().splitlines()[1:-1])


def _keep_port(url: str, query_string: str, timeout: int) -> tuple[str, http.client.HTTPConnection]:
    """The SDK's get_http_connection drops the port (reference §11); this one keeps it."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query_string}", connection


@pytest.fixture(scope="module")
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def sdk(sim: GatewaySimulator) -> Iterator[DefaultAlipayClient]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    sim.register_app(APP_ID, public.decode())
    config = AlipayClientConfig()
    config.server_url = sim.url
    config.app_id = APP_ID
    config.app_private_key = _body(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    )  # fmt: skip
    config.alipay_public_key = _body(sim.alipay_public_key_pem)
    yield DefaultAlipayClient(config)


@pytest.fixture(autouse=True)
def sdk_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(web_utils, "get_http_connection", _keep_port)
    # The SDK stamps requests with datetime.now(): the host's local clock. Alipay wants China time,
    # so run it as a merchant in China would (POSIX TZ string: no tz database needed).
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def call(sdk: DefaultAlipayClient, request: Any, biz: dict[str, Any] | None = None, **text: str) -> dict[str, Any]:
    """execute() verifies the reply's signature itself; it raises if the reply is unsigned or forged."""
    if biz is not None:
        request.biz_content = biz
    for name, value in text.items():
        request.add_other_text_param(name, value)
    node: dict[str, Any] = json.loads(sdk.execute(request))
    return node


def test_card_lifecycle_through_the_official_sdk(sdk: DefaultAlipayClient, sim: GatewaySimulator) -> None:
    images = []
    for name in ("logo", "background"):
        upload = AlipayOfflineMaterialImageUploadRequest()
        upload.image_type, upload.image_name = "png", name
        upload.image_content = FileItem(file_name=f"{name}.png", file_content=PNG)
        images.append(call(sdk, upload)["image_id"])
    created = call(sdk, AlipayMarketingCardTemplateCreateRequest(), {
        "request_id": "sdk-req-1", "card_type": "OUT_MEMBER_CARD", "biz_no_prefix": "sdk", "biz_no_suffix_len": "10",
        "write_off_type": "qrcode",
        "template_style_info": {"card_show_name": "SDK卡", "logo_id": images[0], "background_id": images[1],
                                "bg_color": "rgb(55,112,179)"},
        "column_info_list": [{"code": "POINT", "title": "积分"}],
        "field_rule_list": [{"field_name": "Point", "rule_name": "ASSIGN_FROM_REQUEST", "rule_value": "point"}],
    })  # fmt: skip
    template_id = created["template_id"]
    assert call(sdk, AlipayMarketingCardTemplateQueryRequest(), {"template_id": template_id})["code"] == "10000"
    call(sdk, AlipayMarketingCardFormtemplateSetRequest(), {
        "template_id": template_id,
        "fields": {"required": '{"common_fields":["OPEN_FORM_FIELD_MOBILE","OPEN_FORM_FIELD_NAME"]}'},
    })  # fmt: skip
    applied = call(sdk, AlipayMarketingCardActivateurlApplyRequest(),
                   {"template_id": template_id, "callback": "http://127.0.0.1:9/cb", "out_string": "till-1"})  # fmt: skip
    customer = open_card(applied["apply_card_url"], mobile="13552319194", name="李飞", follow_callback=False)

    token_request = AlipaySystemOauthTokenRequest()
    token_request.grant_type, token_request.code = "authorization_code", customer.params["auth_code"]
    token = call(sdk, token_request)
    refresh_request = AlipaySystemOauthTokenRequest()
    refresh_request.grant_type, refresh_request.refresh_token = "refresh_token", token["refresh_token"]
    refreshed = call(sdk, refresh_request)
    assert refreshed["user_id"] == token["user_id"]
    access_token = refreshed["access_token"]

    form = call(sdk, AlipayMarketingCardActivateformQueryRequest(),
                {"biz_type": "MEMBER_CARD", "template_id": template_id, "request_id": customer.params["request_id"]},
                auth_token=access_token)  # fmt: skip
    assert json.loads(form["infos"]) == [{"OPEN_FORM_FIELD_MOBILE": "13552319194"}, {"OPEN_FORM_FIELD_NAME": "李飞"}]
    opened = call(sdk, AlipayMarketingCardOpenRequest(), {
        "out_serial_no": "sdk-open-1", "card_template_id": template_id,
        "card_user_info": {"user_uni_id": token["user_id"], "user_uni_id_type": "UID"},
        "card_ext_info": {"external_card_no": "EXT1", "point": "0", "balance": "0.00"},
        "member_ext_info": {"name": "李飞", "cell": "13552319194"},
    }, auth_token=access_token)  # fmt: skip
    card_no = opened["card_info"]["biz_card_no"]
    assert card_no == "sdk0000000001"
    call(sdk, AlipayMarketingCardUpdateRequest(), {
        "target_card_no": card_no, "target_card_no_type": "BIZ_CARD", "occur_time": "2024-01-01 12:00:00",
        "card_info": {"point": "120", "balance": "9.90"},
    })  # fmt: skip
    queried = call(
        sdk, AlipayMarketingCardQueryRequest(), {"target_card_no": card_no, "target_card_no_type": "BIZ_CARD"}
    )
    assert (queried["card_info"]["point"], queried["card_info"]["balance"]) == ("120", "9.90")
    deleted = call(sdk, AlipayMarketingCardDeleteRequest(), {
        "out_serial_no": "sdk-del-1", "target_card_no": card_no, "target_card_no_type": "BIZ_CARD",
        "reason_code": "USER_UNBUND",
    })  # fmt: skip
    assert deleted["biz_serial_no"]
    assert sim.inspect()["cards"][0]["deleted"] is True

    # error_response replies are signed too, and the SDK accepts them
    again = AlipaySystemOauthTokenRequest()
    again.grant_type, again.code = "authorization_code", customer.params["auth_code"]
    assert call(sdk, again)["sub_code"] == "isv.code-invalid"


def test_payments_through_the_official_sdk(sdk: DefaultAlipayClient) -> None:
    def pay(out_trade_no: str, code: str) -> dict[str, Any]:
        return call(sdk, AlipayTradePayRequest(), {"out_trade_no": out_trade_no, "scene": "bar_code",
                                                   "auth_code": code, "subject": "Till 1", "total_amount": "9.90"})  # fmt: skip

    paid = pay("sdk_pay_1", example(Behaviour.PAID))
    assert (paid["code"], paid["total_amount"]) == ("10000", "9.90")
    waiting = pay("sdk_pay_2", example(Behaviour.NEVER_COMPLETES))
    assert (waiting["code"], waiting["msg"], "sub_code" in waiting) == ("10003", " order success pay inprocess", False)
    assert call(sdk, AlipayTradeQueryRequest(), {"out_trade_no": "sdk_pay_2"})["trade_status"] == "WAIT_BUYER_PAY"
    cancelled = call(sdk, AlipayTradeCancelRequest(), {"out_trade_no": "sdk_pay_2"})
    assert (cancelled["action"], cancelled["retry_flag"]) == ("close", "N")
    declined = pay("sdk_pay_3", example(Behaviour.BALANCE_NOT_ENOUGH))
    assert declined["sub_code"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH"


def test_the_sdk_rejects_forged_and_unsigned_replies(sdk: DefaultAlipayClient, sim: GatewaySimulator) -> None:
    sim.set_faults(bad_sign_rate=1.0)
    try:
        with pytest.raises(ResponseException):
            call(sdk, AlipayTradeQueryRequest(), {"out_trade_no": "x"})
    finally:
        sim.set_faults()
    assert call(sdk, AlipayTradeQueryRequest(), {"out_trade_no": "x"})["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_the_sdk_rejects_the_unsigned_unknown_app_reply(sdk: DefaultAlipayClient, sim: GatewaySimulator) -> None:
    config = sdk._DefaultAlipayClient__config
    stranger = AlipayClientConfig()
    stranger.server_url, stranger.app_id = config.server_url, "2021000000000099"
    stranger.app_private_key, stranger.alipay_public_key = config.app_private_key, config.alipay_public_key
    with pytest.raises(ResponseException):
        call(DefaultAlipayClient(stranger), AlipayTradeQueryRequest(), {"out_trade_no": "x"})
    assert sim.inspect()["calls"]["alipay.trade.query"] >= 1
