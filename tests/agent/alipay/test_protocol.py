"""Building signed requests and judging replies: every outcome of the error model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from agent.alipay import (
    BusinessError,
    ConfigurationError,
    Credentials,
    NoAnswerError,
    OpenApiProtocol,
    ResponseVerificationError,
    RetryableError,
    UnknownOutcomeError,
    apis,
)
from agent.alipay.errors import AlipayError
from agent.alipay.signing import string_to_sign, verify_rsa2

from .conftest import KeySet, node_for, signed_body

NOW = datetime(2024, 5, 1, 4, 0, 0, tzinfo=UTC)  # 12:00 in China


@pytest.fixture
def protocol(keys: KeySet) -> OpenApiProtocol:
    return OpenApiProtocol(keys.credentials, "http://127.0.0.1:9/gateway.do")


QUERY = apis.TradeQuery(out_trade_no="S1_T1_0001_1")


def reply(keys: KeySet, method: str, fields: dict[str, object]) -> bytes:
    name, text = node_for(method, fields)
    return signed_body(name, text, keys.alipay_private)


# --- requests ---------------------------------------------------------------------------------


def test_request_is_signed_over_every_sent_parameter(protocol: OpenApiProtocol, keys: KeySet) -> None:
    prepared = protocol.prepare(QUERY, NOW)
    params = prepared.signed_params
    assert params["timestamp"] == "2024-05-01 12:00:00"
    assert params["sign_type"] == "RSA2" and params["charset"] == "utf-8" and params["version"] == "1.0"
    assert verify_rsa2(string_to_sign(params).encode(), params["sign"], keys.app_private.public_key())


def test_common_params_travel_in_the_query_and_biz_content_in_the_body(protocol: OpenApiProtocol) -> None:
    prepared = protocol.prepare(QUERY, NOW)
    url_query = dict(parse_qsl(urlsplit(prepared.url).query))
    assert {"app_id", "method", "sign", "timestamp", "sign_type", "charset", "version", "format"} <= set(url_query)
    assert "biz_content" not in url_query
    assert json.loads(prepared.body["biz_content"]) == {"out_trade_no": "S1_T1_0001_1"}


def test_user_and_isv_tokens_are_signed_common_params(keys: KeySet) -> None:
    creds = Credentials("2021000000000001", keys.app_private, keys.alipay_private.public_key(), "202401BBisv")
    protocol = OpenApiProtocol(creds, "sandbox")
    request = apis.ActivateFormQuery(template_id="T1", request_id="R1", auth_token="authusrB1")
    prepared = protocol.prepare(request, NOW)
    assert prepared.query["app_auth_token"] == "202401BBisv"
    assert prepared.query["auth_token"] == "authusrB1"
    assert "app_auth_token=202401BBisv" in string_to_sign(prepared.signed_params)


def test_oauth_uses_top_level_params_and_no_biz_content(protocol: OpenApiProtocol) -> None:
    prepared = protocol.prepare(apis.OAuthToken(code="abc"), NOW)
    assert prepared.body == {"grant_type": "authorization_code", "code": "abc"}
    assert "biz_content" not in prepared.signed_params


def test_image_upload_signs_text_parts_but_not_the_file(protocol: OpenApiProtocol, keys: KeySet) -> None:
    upload = apis.ImageUpload(image_type="png", image_name="logo", image_content=b"\x89PNG...")
    prepared = protocol.prepare(upload, NOW)
    assert prepared.body == {"image_type": "png", "image_name": "logo"}
    assert prepared.files["image_content"].content_type == "image/png"
    content = string_to_sign(prepared.signed_params)
    assert "image_content" not in content
    assert verify_rsa2(content.encode(), prepared.query["sign"], keys.app_private.public_key())


def test_gateway_names_resolve() -> None:
    from agent.alipay import resolve_gateway

    assert resolve_gateway("production") == "https://openapi.alipay.com/gateway.do"
    assert resolve_gateway("sandbox").startswith("https://openapi-sandbox")
    assert resolve_gateway("http://127.0.0.1:8080/gateway.do") == "http://127.0.0.1:8080/gateway.do"
    with pytest.raises(ValueError):
        resolve_gateway("openapi.alipay.com")


# --- replies ----------------------------------------------------------------------------------


def test_signed_success_becomes_a_typed_result(protocol: OpenApiProtocol, keys: KeySet) -> None:
    body = reply(keys, QUERY.METHOD, {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS",
                                      "out_trade_no": "S1_T1_0001_1", "total_amount": "20.00"})  # fmt: skip
    status = protocol.parse(QUERY, 200, body)
    assert status.paid and status.total_amount == "20.00"


def test_tampered_reply_is_never_a_success(protocol: OpenApiProtocol, keys: KeySet) -> None:
    body = reply(keys, QUERY.METHOD, {"code": "10000", "msg": "Success", "trade_status": "WAIT_BUYER_PAY"})
    tampered = body.replace(b"WAIT_BUYER_PAY", b"TRADE_SUCCESS")
    with pytest.raises(ResponseVerificationError):
        protocol.parse(QUERY, 200, tampered)


def test_reply_signed_by_another_key_is_refused(protocol: OpenApiProtocol, keys: KeySet) -> None:
    name, text = node_for(QUERY.METHOD, {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS"})
    with pytest.raises(ResponseVerificationError) as info:
        protocol.parse(QUERY, 200, signed_body(name, text, keys.other_private))
    assert isinstance(info.value, UnknownOutcomeError)


def test_unsigned_success_is_refused(protocol: OpenApiProtocol) -> None:
    name, text = node_for(QUERY.METHOD, {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS"})
    with pytest.raises(ResponseVerificationError, match="not signed"):
        protocol.parse(QUERY, 200, signed_body(name, text, None))


def test_unsigned_invalid_app_id_is_a_configuration_error(protocol: OpenApiProtocol) -> None:
    # Real capture: the gateway cannot sign for an app it does not know.
    body = (b'{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments",'
            b'"sub_code":"isv.invalid-app-id","sub_msg":"\xe6\x97\xa0\xe6\x95\x88\xe7\x9a\x84AppID\xe5\x8f\x82\xe6\x95\xb0"}}')  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        protocol.parse(QUERY, 200, body)
    assert info.value.sub_code == "isv.invalid-app-id"
    assert "app id" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("method", "code", "sub_code", "expected"),
    [
        ("alipay.trade.query", "20000", "isp.unknow-error", RetryableError),
        ("alipay.marketing.card.update", "20000", "aop.unknow-error", RetryableError),
        ("alipay.trade.pay", "20000", "isp.unknow-error", UnknownOutcomeError),
        ("alipay.trade.pay", "40004", "ACQ.SYSTEM_ERROR", UnknownOutcomeError),
        ("alipay.trade.cancel", "40004", "ACQ.SYSTEM_ERROR", RetryableError),
        ("alipay.trade.pay", "40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH", BusinessError),
        ("alipay.trade.query", "40004", "ACQ.TRADE_NOT_EXIST", BusinessError),
        ("alipay.marketing.card.open", "40002", "isv.invalid-signature", ConfigurationError),
        ("alipay.marketing.card.open", "40002", "isv.invalid-timestamp", ConfigurationError),
        ("alipay.marketing.card.open", "40002", "isv.invalid-parameter", BusinessError),
        ("alipay.marketing.card.open", "40001", "isv.missing-signature", ConfigurationError),
        ("alipay.marketing.card.open", "20001", "aop.invalid-auth-token", BusinessError),
        ("alipay.marketing.card.open", "20001", "aop.invalid-app-auth-token", ConfigurationError),
        ("alipay.marketing.card.open", "40003", "isv.invalid-auth-relations", BusinessError),
        ("alipay.marketing.card.open", "40006", "isv.insufficient-isv-permissions", ConfigurationError),
        ("alipay.marketing.card.open", "99999", None, UnknownOutcomeError),
    ],
)
def test_every_gateway_code_maps_to_its_error_class(
    keys: KeySet, method: str, code: str, sub_code: str | None, expected: type[AlipayError]
) -> None:
    protocol = OpenApiProtocol(keys.credentials, "sandbox")
    # Only the METHOD matters to the classification: probe every method with one request type.
    fields: dict[str, object] = {"code": code, "msg": "m", "sub_msg": "detail"}
    if sub_code:
        fields["sub_code"] = sub_code

    class Probe(apis.TradeQuery):
        METHOD = method

    probe = Probe(out_trade_no="X")
    with pytest.raises(expected) as info:
        protocol.parse(probe, 200, reply(keys, method, fields))
    assert type(info.value) is expected
    error = info.value
    assert (error.method, error.code, error.sub_code, error.sub_msg) == (method, code, sub_code, "detail")


def test_oauth_errors_arrive_as_error_response(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}'
    with pytest.raises(BusinessError) as info:
        protocol.parse(apis.OAuthToken(code="used"), 200, signed_body("error_response", node, keys.alipay_private))
    assert "scan" in (info.value.hint or "")


def test_pay_in_process_is_a_result_not_an_error(protocol: OpenApiProtocol, keys: KeySet) -> None:
    pay = apis.TradePay(out_trade_no="S1_T1_9", auth_code="287654321098765432", subject="Till", total_amount="1")
    body = reply(keys, pay.METHOD, {"code": "10003", "msg": " order success pay inprocess", "trade_no": "1"})
    result = protocol.parse(pay, 200, body)
    assert result.in_process
    assert pay.total_amount == "1.00"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 302, 400, 404, 429])
@pytest.mark.parametrize("body", [b"", b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"])
def test_any_status_but_200_means_no_answer_the_request_may_have_been_processed(
    protocol: OpenApiProtocol, status: int, body: bytes
) -> None:
    # A proxy or load balancer can answer 502/503/504 after Alipay took the money: never "not sent".
    pay = apis.TradePay(out_trade_no="S1_T1_9", auth_code="287654321098765432", subject="Till", total_amount="1")
    for request in (QUERY, pay):
        with pytest.raises(NoAnswerError) as info:
            protocol.parse(request, status, body)
        assert not isinstance(info.value, RetryableError)
        assert info.value.http_status == status and "may have been processed" in info.value.message


def test_trade_has_success_on_pay_is_not_a_decline(protocol: OpenApiProtocol, keys: KeySet) -> None:
    pay = apis.TradePay(out_trade_no="S1_T1_9", auth_code="287654321098765432", subject="Till", total_amount="1")
    body = reply(keys, pay.METHOD, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_HAS_SUCCESS"})
    with pytest.raises(UnknownOutcomeError) as info:
        protocol.parse(pay, 200, body)
    assert not isinstance(info.value, BusinessError)


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        # deep nesting in the node, around it, and in a field the error model reads
        ('{"alipay_trade_query_response":' + _nested(100_000) + ',"sign":"x"}').encode(),
        ('{"x":' + _nested(5_000) + "}").encode(),
        ('{"alipay_trade_query_response":{"code":' + _nested(2_000) + '},"sign":"x"}').encode(),
        ('{"alipay_trade_query_response":{"code":"10000","deep":' + "{\"a\":" * 3000 + "1" + "}" * 3000
         + '},"sign":"x"}').encode(),
        b'{"alipay_trade_query_response":{"code":' + b"9" * 5000 + b'},"sign":"x"}',
        b'{"alipay_trade_query_response":{"code":1e999999},"sign":"x"}',
        b'{"alipay_trade_query_response":{"code":"10000"},"sign":"x"}\x00',
        b"\xff\xfe{}",
        b'{"alipay_trade_query_response":[],"sign":"x"}',
        b'{"alipay_trade_query_response":{},"sign":12}',
        b'{"alipay_trade_query_response":{},"alipay_trade_query_response":{},"sign":"x"}',
    ],
)
def test_a_hostile_reply_ends_as_an_unverified_response_never_an_escaped_exception(
    protocol: OpenApiProtocol, body: bytes
) -> None:
    with pytest.raises(ResponseVerificationError):
        protocol.parse(QUERY, 200, body)


@pytest.mark.parametrize(
    "fields",
    [
        {"code": [[["10000"]]], "msg": "m"},
        {"code": "40004", "msg": {"a": [1]}, "sub_code": "ACQ.TRADE_NOT_EXIST"},
        {"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "x" * 100_000},
        {"code": True},
    ],
)
def test_signed_replies_with_fields_of_the_wrong_shape_are_not_believed(
    protocol: OpenApiProtocol, keys: KeySet, fields: dict[str, object]
) -> None:
    with pytest.raises(ResponseVerificationError):
        protocol.parse(QUERY, 200, reply(keys, QUERY.METHOD, fields))


def test_a_signed_success_nested_deeply_is_an_unknown_outcome_not_a_crash(
    protocol: OpenApiProtocol, keys: KeySet
) -> None:
    # Verified, so Alipay (or whoever holds its key) said it: unknown, and the sale queries.
    name, text = node_for(QUERY.METHOD, {"code": "10000", "msg": "Success"})
    deep = text[:-1] + ',"trade_status":' + _nested(900, '"TRADE_SUCCESS"') + "}"
    with pytest.raises(UnknownOutcomeError):
        protocol.parse(QUERY, 200, signed_body(name, deep, keys.alipay_private))


def test_garbled_200_is_unverified(protocol: OpenApiProtocol) -> None:
    for body in (b"", b"<html>captive portal</html>", b'{"alipay_trade_query_response":{"code":"10000"'):
        with pytest.raises(ResponseVerificationError):
            protocol.parse(QUERY, 200, body)


def test_signed_success_with_missing_fields_is_unknown(protocol: OpenApiProtocol, keys: KeySet) -> None:
    body = reply(keys, QUERY.METHOD, {"code": "10000", "msg": "Success", "trade_status": "SOMETHING_NEW"})
    with pytest.raises(UnknownOutcomeError, match="unexpected success"):
        protocol.parse(QUERY, 200, body)


def test_errors_never_carry_secrets_in_their_text(protocol: OpenApiProtocol, keys: KeySet) -> None:
    pay = apis.TradePay(out_trade_no="S1_T1_9", auth_code="287654321098765432", subject="Till", total_amount="1")
    body = reply(keys, pay.METHOD, {"code": "40004", "msg": "Business Failed",
                                    "sub_code": "ACQ.PAYMENT_AUTH_CODE_INVALID", "sub_msg": "支付授权码无效"})  # fmt: skip
    with pytest.raises(BusinessError) as info:
        protocol.parse(pay, 200, body)
    assert "287654321098765432" not in str(info.value) + repr(info.value.to_dict()) + repr(pay)
