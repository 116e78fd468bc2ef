"""The pure pieces on their own: signing, keys, multipart parsing, fault plans, payment codes, time."""

from __future__ import annotations

import base64
import io
import json
import random
from urllib.parse import quote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.gateway.chinatime import format_china, parse_china
from hardware_sim.gateway.chunked import ChunkedError, read_chunked
from hardware_sim.gateway.envelope import render
from hardware_sim.gateway.faults import Action, FaultPlan
from hardware_sim.gateway.httpparse import BadRequest, parse_request
from hardware_sim.gateway.keys import KeyFormatError, parse_public_key
from hardware_sim.gateway.payment_codes import PAYMENT_CODE, Behaviour, classify, example
from hardware_sim.gateway.signing import string_to_sign, verify_request

from .oapi import public_pem, sign_params


def test_string_to_sign_matches_the_reference_example() -> None:
    params = {
        "app_id": "2021000000000001", "method": "alipay.offline.material.image.upload", "format": "json",
        "charset": "utf-8", "sign_type": "RSA2", "timestamp": "2026-11-25 19:37:30", "version": "1.0",
        "image_type": "png", "image_name": "logo", "sign": "ignored", "empty": "",
    }  # fmt: skip
    assert string_to_sign(params) == (
        "app_id=2021000000000001&charset=utf-8&format=json&image_name=logo&image_type=png"
        "&method=alipay.offline.material.image.upload&sign_type=RSA2&timestamp=2026-11-25 19:37:30&version=1.0"
    )


def test_verify_request() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    params = {"app_id": "1", "sign_type": "RSA2", "biz_content": '{"auth_code":"28100000000000001234"}'}
    params["sign"] = sign_params(params, key)
    assert verify_request(params, key.public_key())
    assert not verify_request({**params, "sign": "!!notbase64"}, key.public_key())
    assert not verify_request({**params, "sign_type": "RSA1"}, key.public_key())


def test_public_keys_in_every_accepted_form() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1_der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    private_pkcs1 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    private_pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for form in (public_pem(key), base64.b64encode(der).decode(), base64.b64encode(pkcs1_der).decode(),
                 private_pkcs1, private_pkcs8):  # fmt: skip
        assert parse_public_key(form).public_numbers() == public.public_numbers()
    for bad in (
        "",
        "hello world",
        base64.b64encode(b"nope").decode(),
        "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----",
    ):
        with pytest.raises(KeyFormatError):
            parse_public_key(bad)


def test_multipart_text_parts_are_params_and_files_are_not() -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="image_type"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\npng\r\n'
        b'--B\r\nContent-Disposition: form-data; name="image_content"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n\x89PNG\r\n\x00\xff\r\n"
        b"--B--\r\n"
    )
    parsed = parse_request("app_id=1&method=m", "multipart/form-data; boundary=B", body)
    assert parsed.params == {"app_id": "1", "method": "m", "image_type": "png"}
    assert parsed.files["image_content"].content == b"\x89PNG\r\n\x00\xff"
    with pytest.raises(BadRequest):
        parse_request("", "multipart/form-data; boundary=B", b"--B\r\nno header end")
    with pytest.raises(BadRequest):
        parse_request("", "application/xml", b"<x/>")


def test_envelope_is_byte_exact() -> None:
    body = render("a_response", {"code": "10000", "msg": "Success", "url": "http://x/y"}, charset="utf-8",
                  signer=lambda content: "SIG" + str(len(content)))  # fmt: skip
    assert body == b'{"a_response":{"code":"10000","msg":"Success","url":"http://x/y"},"sign":"SIG51"}'
    assert render("a_response", {"code": "1"}, charset="utf-8", signer=None) == b'{"a_response":{"code":"1"}}'


def test_fault_plan_decisions() -> None:
    rng = random.Random(1)
    assert FaultPlan().decide("m", 0, rng).action is Action.NONE
    assert FaultPlan(outage_until=10).decide("m", 5, rng).action is Action.OUTAGE
    assert FaultPlan(outage_until=10).decide("m", 10, rng).action is Action.NONE
    assert FaultPlan(drop_rate=1, methods=frozenset({"a"})).decide("b", 0, rng).action is Action.NONE
    assert FaultPlan(drop_rate=1, latency=0.5).decide("a", 0, rng).latency == 0.5
    plan = FaultPlan.from_pairs(["error_rate=0.25", "methods=a,b", "outage=5", "seed=3"], now=100)
    assert (plan.error_rate, plan.methods, plan.outage_until, plan.seed) == (0.25, frozenset({"a", "b"}), 105, 3)
    for bad in (["error_rate=2"], ["latency=-1"], ["nope=1"], ["error_rate"], ["latency=fast"]):
        with pytest.raises(ValueError):
            FaultPlan.from_pairs(bad)


def test_payment_code_rules() -> None:
    for behaviour in Behaviour:
        code = example(behaviour)
        assert PAYMENT_CODE.fullmatch(code)
        assert classify(code).behaviour is behaviour
    assert classify("289112" + "0" * 12).confirm_after == 12
    assert classify("25" + "0" * 14).behaviour is Behaviour.PAID
    assert classify("30" + "9" * 22).behaviour is Behaviour.PAID
    for not_a_code in ("24" + "0" * 14, "28" + "0" * 13, "30" + "0" * 23, "28abc", ""):
        assert classify(not_a_code).behaviour is Behaviour.CODE_INVALID


def test_china_time_round_trip() -> None:
    assert format_china(0) == "1970-01-01 08:00:00"
    assert parse_china("1970-01-01 08:00:00") == 0
    with pytest.raises(ValueError):
        parse_china("1970-01-01T08:00:00")


def test_parameters_are_decoded_in_the_declared_charset_and_unreadable_ones_named() -> None:
    gbk = "charset=GBK&subject=" + quote_plus("龙井", encoding="gbk")
    assert parse_request(gbk, "", b"").params == {"charset": "GBK", "subject": "龙井"}
    body = ("biz_content=" + quote_plus('{"s":"茶"}', encoding="gbk")).encode()
    assert parse_request("charset=gbk", "application/x-www-form-urlencoded;charset=utf-8", body).params == {
        "charset": "gbk", "biz_content": '{"s":"茶"}'}  # fmt: skip
    with pytest.raises(BadRequest) as caught:  # in a GET's query string as much as in a body
        parse_request("app_id=1&method=m&subject=%FF", "", b"")
    assert caught.value.sub_code == "isv.invalid-charset" and "subject" in caught.value.detail
    assert caught.value.params == {"app_id": "1", "method": "m"}  # enough to address the error reply
    with pytest.raises(BadRequest) as caught:
        parse_request("app_id=1&method=m", "application/xml", b"<x/>")
    assert (caught.value.sub_code, caught.value.params) == ("isv.invalid-parameter", {"app_id": "1", "method": "m"})


def test_read_chunked_follows_rfc_9112() -> None:
    framed = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    stream = io.BytesIO(framed)
    assert read_chunked(stream, 100) == b"Wikipedia in\r\n\r\nchunks."
    assert stream.read() == b"NEXT"  # the next request on the connection is untouched
    for broken, status in [(b"-1\r\n", 400), (b"0x4\r\nWiki\r\n0\r\n\r\n", 400), (b"4\r\nWikiX\r\n", 400),
                           (b"4\r\nWi", 400), (b"FFFF\r\n", 413)]:  # fmt: skip
        with pytest.raises(ChunkedError) as caught:
            read_chunked(io.BytesIO(broken), 100)
        assert caught.value.status == status, broken


def test_reply_text_the_charset_cannot_encode_becomes_json_escapes() -> None:
    body = render("a_response", {"name": "茶☕🍵"}, charset="gbk", signer=None)
    assert body == b'{"a_response":{"name":"' + "茶".encode("gbk") + b'\\u2615\\ud83c\\udf75"}}'
    assert json.loads(body.decode("gbk")) == {"a_response": {"name": "茶☕🍵"}}
