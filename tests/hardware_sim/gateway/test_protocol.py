"""Gateway-level checks: signatures, common parameters, timestamps, envelopes, transports."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.gateway import GatewaySimulator

from .conftest import APP_ID
from .oapi import TinyClient, china_time, parse_reply, public_pem, sign_params

QUERY = "alipay.trade.query"
BIZ = {"out_trade_no": "nope"}


def test_a_good_signature_gets_a_signed_reply_in_the_real_envelope(client: TinyClient) -> None:
    reply = client.call(QUERY, BIZ)
    assert reply.key == "alipay_trade_query_response" and reply.verified
    assert reply.body.startswith(b'{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed",')
    assert reply.body.endswith(b'"}') and b", " not in reply.body and b": " not in reply.body


def test_get_with_every_parameter_in_the_query_string_works(client: TinyClient) -> None:
    reply = client.call(QUERY, BIZ, get=True)
    assert reply.verified and reply.sub_code == "ACQ.TRADE_NOT_EXIST"


def test_wrong_key_is_invalid_signature_and_echoes_the_exact_string_to_sign(client: TinyClient) -> None:
    """The real gateway echoes its string to sign so integrators can diff it against theirs: byte for byte."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = "authusrBsecret0000000000000000000000X01"
    biz = '{"auth_code":"281011111111111111","out_trade_no":"nope","subject":"咖啡 & 茶"}'
    params = client.common(QUERY, biz_content=biz, auth_token=token, notify_url="")
    params["sign"] = sign_params(params, other)
    reply = parse_reply(200, client.http.post(client.url, params=params).content, client.alipay_public_key)
    assert (reply.code, reply.sub_code) == ("40002", "isv.invalid-signature")
    assert reply.verified and reply.key == "alipay_trade_query_response"
    what_the_client_signed = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])
    prefix = "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
    assert reply.node["sub_msg"] == prefix + what_the_client_signed


def test_a_tampered_parameter_breaks_the_signature(client: TinyClient) -> None:
    params = client.common(QUERY, biz_content='{"out_trade_no":"a"}')
    params["sign"] = sign_params(params, client.private_key)
    params["biz_content"] = '{"out_trade_no":"b"}'
    response = client.http.post(client.url, params=params)
    assert parse_reply(200, response.content, client.alipay_public_key).sub_code == "isv.invalid-signature"


def test_empty_parameters_are_left_out_of_the_signature(client: TinyClient) -> None:
    reply = client.call(QUERY, BIZ, override={"notify_url": ""})
    assert reply.sub_code == "ACQ.TRADE_NOT_EXIST"


@pytest.mark.parametrize(
    ("dropped", "code", "sub_code"),
    [
        ("sign", "40001", "isv.missing-signature"),
        ("sign_type", "40001", "isv.missing-signature-type"),
        ("timestamp", "40001", "isv.missing-timestamp"),
        ("version", "40001", "isv.missing-version"),
        ("method", "40001", "isv.missing-method"),
    ],
)
def test_missing_common_parameters_get_the_real_40001_sub_codes(
    client: TinyClient, dropped: str, code: str, sub_code: str
) -> None:
    reply = client.call(QUERY, BIZ, drop=(dropped,))
    assert (reply.code, reply.sub_code) == (code, sub_code)
    assert reply.verified
    assert reply.node["msg"] == "Missing Required Arguments"


def test_missing_app_id_and_unknown_app_are_unsigned(client: TinyClient) -> None:
    missing = client.call(QUERY, BIZ, drop=("app_id",))
    assert (missing.code, missing.sub_code, missing.signed) == ("40001", "isv.missing-app-id", False)
    unknown = client.call(QUERY, BIZ, override={"app_id": "2021999999999999"})
    assert (unknown.code, unknown.sub_code, unknown.signed) == ("40002", "isv.invalid-app-id", False)
    assert unknown.body == (
        b'{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments",'
        + '"sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}'.encode()
    )


def test_unknown_method_and_bad_sign_type(client: TinyClient) -> None:
    unknown = client.call("alipay.trade.teleport", BIZ)
    assert (unknown.key, unknown.sub_code) == ("error_response", "isv.invalid-method")
    bad_type = client.call(QUERY, BIZ, override={"sign_type": "MD5"})
    assert bad_type.sub_code == "isv.invalid-signature-type"
    assert client.call(QUERY, BIZ, override={"format": "xml"}).sub_code == "isv.invalid-format"
    assert client.call(QUERY, BIZ, override={"format": "JSON"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert client.call(QUERY, BIZ, override={"charset": "latin-1"}).sub_code == "isv.invalid-charset"


@pytest.mark.parametrize("offset", [-1200, 1200])
def test_timestamps_beyond_the_allowed_skew_are_rejected(client: TinyClient, offset: int) -> None:
    reply = client.call(QUERY, BIZ, override={"timestamp": china_time(time.time() + offset)})
    assert reply.sub_code == "isv.invalid-timestamp"


def test_timestamp_within_skew_and_bad_format(client: TinyClient) -> None:
    assert (
        client.call(QUERY, BIZ, override={"timestamp": china_time(time.time() - 600)}).sub_code == "ACQ.TRADE_NOT_EXIST"
    )
    assert client.call(QUERY, BIZ, override={"timestamp": "2026/01/01 10:00"}).sub_code == "isv.invalid-timestamp"


def test_timestamp_is_china_time_whatever_the_host_tz(client: TinyClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        utc_wall = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        local_wall = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        assert client.call(QUERY, BIZ).sub_code == "ACQ.TRADE_NOT_EXIST"  # china_time() = UTC+8
        assert client.call(QUERY, BIZ, override={"timestamp": utc_wall}).sub_code == "isv.invalid-timestamp"
        assert client.call(QUERY, BIZ, override={"timestamp": local_wall}).sub_code == "isv.invalid-timestamp"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "TZ" not in os.environ or os.environ["TZ"] != "America/New_York"


def test_max_clock_skew_is_configurable(app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}, max_clock_skew=30) as sim:
        tiny = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
        try:
            late = tiny.call(QUERY, BIZ, override={"timestamp": china_time(time.time() - 120)})
            assert late.sub_code == "isv.invalid-timestamp"
        finally:
            tiny.close()


def test_gbk_requests_get_gbk_replies_signed_over_gbk_bytes(client: TinyClient) -> None:
    reply = client.call(QUERY, BIZ, override={"charset": "gbk"}, drop=())
    # our tiny signer encodes UTF-8: for ASCII-only params the bytes are identical in GBK
    assert reply.verified
    assert "交易不存在".encode("gbk") in reply.body


@pytest.mark.parametrize(
    ("content_type", "body", "sub_code"),
    [
        ("multipart/form-data", b"--x\r\nnonsense", "isv.invalid-parameter"),  # no boundary
        ("multipart/form-data; boundary=B", b"--B\r\nno header end", "isv.invalid-parameter"),
        ("application/xml", b"<x/>", "isv.invalid-parameter"),
        ("application/x-www-form-urlencoded", b"biz_content=%FF%FE", "isv.invalid-charset"),  # not UTF-8
        ("application/x-www-form-urlencoded;charset=utf-8", b"biz_content=%C4%E3", "isv.invalid-charset"),
    ],
)
def test_unreadable_bodies_get_a_signed_gateway_error_the_client_can_act_on(
    client: TinyClient, content_type: str, body: bytes, sub_code: str
) -> None:
    params = client.common(QUERY)
    response = client.http.post(client.url, params=params, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    reply = parse_reply(200, response.content, client.alipay_public_key)
    assert (reply.key, reply.code, reply.sub_code) == ("alipay_trade_query_response", "40002", sub_code)
    assert reply.verified  # the app is known: signed, like every reply to a known app
    assert client.call(QUERY, BIZ).verified  # still serving


def test_unreadable_bodies_of_unknown_or_missing_apps_are_answered_unsigned(client: TinyClient) -> None:
    response = client.http.post(client.url, params={"app_id": "2099000000000000", "method": QUERY},
                                content=b"biz_content=%FF", headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    reply = parse_reply(200, response.content, client.alipay_public_key)
    assert (reply.key, reply.sub_code, reply.signed) == ("alipay_trade_query_response", "isv.invalid-charset", False)
    nothing = client.http.post(client.url, content=b"%FF=%FF", headers={"Content-Type": "application/x-www-form-urlencoded"})
    reply = parse_reply(200, nothing.content, client.alipay_public_key)
    assert (reply.key, reply.sub_code, reply.signed) == ("error_response", "isv.invalid-charset", False)


def test_unknown_paths_are_404(sim: GatewaySimulator, client: TinyClient) -> None:
    assert client.http.get(sim.base_url + "/nothing").status_code == 404


def test_oversized_and_malformed_bodies_are_refused_and_the_connection_closed(sim: GatewaySimulator) -> None:
    import http.client

    for headers, status in [
        ({"Content-Length": str(64 * 1024 * 1024)}, 413),
        ({"Content-Length": "-5"}, 400),
        ({"Content-Length": "ten"}, 400),
        ({"Transfer-Encoding": "gzip"}, 501),
    ]:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        conn.putrequest("POST", "/gateway.do")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        assert (response.status, response.getheader("Connection")) == (status, "close"), headers
        conn.close()


def test_chunked_bodies_are_read_like_any_body(client: TinyClient) -> None:
    """Real HTTP servers accept Transfer-Encoding: chunked; so does the simulator."""
    params = client.common(QUERY, biz_content='{"out_trade_no":"nope"}')
    params["sign"] = sign_params(params, client.private_key)
    form = httpx.QueryParams(params).__str__().encode()
    pieces = [form[:7], form[7:50], form[50:]]
    response = client.http.post(client.url, content=iter(pieces),  # a generator body is sent chunked
                                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})  # fmt: skip
    assert response.request.headers.get("transfer-encoding") == "chunked"
    reply = parse_reply(response.status_code, response.content, client.alipay_public_key)
    assert (reply.status, reply.verified, reply.sub_code) == (200, True, "ACQ.TRADE_NOT_EXIST")
    assert client.call(QUERY, BIZ).verified  # the keep-alive connection is still in step


def test_broken_chunked_framing_is_a_400_and_closes(sim: GatewaySimulator) -> None:
    import socket

    for framing in (b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXX0\r\n\r\n", b"5\r\nab"):
        with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
            sock.sendall(b"POST /gateway.do HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + framing)
            if framing == b"5\r\nab":
                sock.shutdown(socket.SHUT_WR)  # cut short
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer, framing
