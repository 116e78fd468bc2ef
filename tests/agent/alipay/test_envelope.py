"""Locating the signed node of a reply and building timestamps, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.alipay.envelope import MalformedResponse, china_timestamp, locate_response, split_params

METHOD = "alipay.trade.query"


def test_the_node_bytes_are_exactly_the_raw_text() -> None:
    node = '{"code":"10000","msg":"Success","out_trade_no":"a1"}'
    located = locate_response(f'{{"alipay_trade_query_response":{node},"sign":"c2ln"}}'.encode(), METHOD)
    assert located.raw == node.encode()
    assert located.sign == "c2ln"
    assert located.data["out_trade_no"] == "a1"


def test_whitespace_and_member_order_do_not_matter() -> None:
    node = '{ "code" : "10000",\n "msg": "Success" }'
    body = f'  {{ "sign" : "c2ln" ,\n "alipay_trade_query_response" :  {node}  }} '.encode()
    located = locate_response(body, METHOD)
    assert located.raw == node.encode()
    assert located.sign == "c2ln"


def test_error_response_is_located_too() -> None:
    node = '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid"}'
    located = locate_response(f'{{"error_response":{node},"sign":"eA=="}}'.encode(), METHOD)
    assert located.name == "error_response"
    assert located.raw == node.encode()


def test_a_value_that_looks_like_the_envelope_does_not_fool_the_scanner() -> None:
    node = r'{"code":"10000","msg":"},\"sign\":\"forged","subject":"{\"a\":1}"}'
    located = locate_response(f'{{"alipay_trade_query_response":{node},"sign":"real"}}'.encode(), METHOD)
    assert located.raw == node.encode()
    assert located.sign == "real"


def test_non_ascii_bytes_are_preserved() -> None:
    node = '{"code":"10000","msg":"Success","infos":"李飞"}'
    located = locate_response(f'{{"alipay_trade_query_response":{node},"sign":"x"}}'.encode(), METHOD)
    assert located.raw == node.encode("utf-8")


def test_escaped_slashes_are_kept_as_sent() -> None:
    node = r'{"code":"10000","msg":"Success","url":"https:\/\/x"}'
    located = locate_response(f'{{"alipay_trade_query_response":{node},"sign":"x"}}'.encode(), METHOD)
    assert located.raw == node.encode()
    assert located.data["url"] == "https://x"


def test_missing_sign_is_reported_as_none() -> None:
    located = locate_response(b'{"alipay_trade_query_response":{"code":"40002"}}', METHOD)
    assert located.sign is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"[]",
        b'{"alipay_trade_pay_response":{"code":"10000"},"sign":"x"}',  # another method's node
        b'{"alipay_trade_query_response":{"code":"10000"},"alipay_trade_query_response":{},"sign":"x"}',
        b'{"alipay_trade_query_response":{"code":"10000"},"error_response":{},"sign":"x"}',
        b'{"alipay_trade_query_response":"10000","sign":"x"}',
        b'{"alipay_trade_query_response":{"code":"10000"},"sign":5}',
        b'{"alipay_trade_query_response":{"code":"10000"},"sign":"x"} trailing',
        b'{"alipay_trade_query_response":{"code":"10000"',
        b"\xff\xfe{}",
    ],
)
def test_garbled_bodies_raise_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        locate_response(body, METHOD)


def test_timestamp_is_china_time_whatever_the_input_zone() -> None:
    utc = datetime(2024, 1, 31, 20, 30, 0, tzinfo=UTC)
    new_york = utc.astimezone(timezone(timedelta(hours=-5)))
    assert china_timestamp(utc) == "2024-02-01 04:30:00"
    assert china_timestamp(new_york) == "2024-02-01 04:30:00"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        china_timestamp(datetime(2024, 1, 1))


def test_common_params_go_to_the_query_and_business_params_to_the_body() -> None:
    query, body = split_params(
        {"app_id": "1", "sign": "s", "auth_token": "t", "biz_content": "{}", "grant_type": "g", "empty": ""}
    )
    assert query == {"app_id": "1", "sign": "s", "auth_token": "t"}
    assert body == {"biz_content": "{}", "grant_type": "g"}
