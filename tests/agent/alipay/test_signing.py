"""RSA2 request signing: the string to sign and the signature, as the gateway computes them."""

from __future__ import annotations

from agent.alipay.signing import sign_params, sign_rsa2, string_to_sign, verify_rsa2

from .conftest import KeySet

# The worked example of the protocol reference, produced by the official Python SDK.
REFERENCE_EXAMPLE = (
    "app_id=2021000000000001&auth_token=authusrB123&biz_content={\"card_info\":{\"balance\":\"9.90\","
    "\"point\":\"120\"},\"occur_time\":\"2024-01-01 12:00:00\",\"target_card_no\":\"prex0000000001\","
    "\"target_card_no_type\":\"BIZ_CARD\"}&charset=utf-8&format=json&method=alipay.marketing.card.update"
    "&sign_type=RSA2&timestamp=2026-11-25 19:37:30&version=1.0"
)


def test_string_to_sign_matches_the_reference_example() -> None:
    params = {
        "version": "1.0",
        "timestamp": "2026-11-25 19:37:30",
        "sign_type": "RSA2",
        "method": "alipay.marketing.card.update",
        "format": "json",
        "charset": "utf-8",
        "biz_content": '{"card_info":{"balance":"9.90","point":"120"},"occur_time":"2024-01-01 12:00:00",'
        '"target_card_no":"prex0000000001","target_card_no_type":"BIZ_CARD"}',
        "auth_token": "authusrB123",
        "app_id": "2021000000000001",
    }
    assert string_to_sign(params) == REFERENCE_EXAMPLE


def test_sign_and_empty_values_are_left_out_and_sign_type_stays_in() -> None:
    params = {"b": "2", "a": "1", "sign": "xyz", "empty": "", "sign_type": "RSA2"}
    assert string_to_sign(params) == "a=1&b=2&sign_type=RSA2"


def test_values_are_raw_not_url_encoded() -> None:
    assert string_to_sign({"timestamp": "2024-01-01 12:00:00", "q": "a&b=c/d"}) == (
        "q=a&b=c/d&timestamp=2024-01-01 12:00:00"
    )


def test_names_sort_by_byte_order() -> None:
    assert string_to_sign({"a_b": "1", "aB": "2", "ab": "3"}) == "aB=2&a_b=1&ab=3"


def test_signature_verifies_with_the_public_key_and_not_with_another(keys: KeySet) -> None:
    signature = sign_params({"a": "1"}, keys.app_private)
    assert verify_rsa2(b"a=1", signature, keys.app_private.public_key())
    assert not verify_rsa2(b"a=2", signature, keys.app_private.public_key())
    assert not verify_rsa2(b"a=1", signature, keys.other_private.public_key())


def test_utf8_content_is_signed_as_utf8(keys: KeySet) -> None:
    signature = sign_rsa2("name=李飞", keys.app_private)
    assert verify_rsa2("name=李飞".encode(), signature, keys.app_private.public_key())


def test_garbage_signatures_are_rejected_not_raised(keys: KeySet) -> None:
    public = keys.app_private.public_key()
    for garbage in ("", "not base64!", "AAAA", "=" * 8):
        assert not verify_rsa2(b"a=1", garbage, public)
