"""The pure parts of the open-card flow: the callback URL, the idempotency key, the form answers."""

from __future__ import annotations

import pytest

from agent.members.open_card import (
    CallbackError,
    CardValues,
    derive_out_serial_no,
    mask_mobile,
    mask_name,
    member_info_from_form,
    parse_callback_url,
)

AUTH_CODE = "7f3dc16c1f8641a39e8a27f95abcQX20"
TEMPLATE_ID = "20170614000000000286130000301234"
REQUEST_ID = "20190508010231370623158141234"
# The real example from Alipay's support FAQ (reference §4).
REAL_CALLBACK = (
    "https://www.abc.com/?isv_app_id=2016091401901234&app_id=2014100900011234"
    f"&auth_code={AUTH_CODE}&state=bWNhcmQ%3D&scope=auth_base%2Cauth_user%2Cauth_ecard"
    f"&template_id={TEMPLATE_ID}&request_id={REQUEST_ID}&out_string=123"
)


def test_the_real_callback_example_parses() -> None:
    params = parse_callback_url(REAL_CALLBACK, expected_app_id="2014100900011234")
    assert (params.auth_code, params.template_id, params.request_id) == (AUTH_CODE, TEMPLATE_ID, REQUEST_ID)
    assert params.app_id == "2014100900011234" and params.out_string == "123"


def test_a_bare_query_string_is_accepted() -> None:
    params = parse_callback_url(f"?auth_code={AUTH_CODE}&template_id={TEMPLATE_ID}&request_id={REQUEST_ID}")
    assert params.template_id == TEMPLATE_ID and params.app_id is None and params.out_string is None


def test_the_auth_code_never_shows_in_repr_or_errors() -> None:
    params = parse_callback_url(REAL_CALLBACK)
    assert AUTH_CODE not in repr(params)
    with pytest.raises(CallbackError) as caught:
        parse_callback_url(REAL_CALLBACK.replace(AUTH_CODE, AUTH_CODE + "!"))
    assert AUTH_CODE not in str(caught.value)
    assert str(caught.value) == "auth_code: expected 1-64 letters or digits"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://shop.example/cb", "the callback URL has no parameters (expected auth_code, template_id, request_id)"),
        (f"https://x/?auth_code={AUTH_CODE}&template_id={TEMPLATE_ID}", "the callback URL lacks request_id"),
        (f"https://x/?template_id={TEMPLATE_ID}&request_id=&auth_code=", "the callback URL lacks auth_code, request_id"),
        (f"https://x/?auth_code={AUTH_CODE}&template_id=T-1&request_id=1", "template_id: expected up to 32 digits, got 'T-1'"),
        (f"https://x/?auth_code={AUTH_CODE}&template_id=1&request_id=1%20OR%201", "request_id: expected 1-64 letters or digits, got '1 OR 1'"),
        (f"{REAL_CALLBACK}&template_id=1", "template_id: given more than once"),
    ],
)
def test_bad_callbacks_are_refused_with_the_parameter_named(url: str, message: str) -> None:
    with pytest.raises(CallbackError) as caught:
        parse_callback_url(url)
    assert str(caught.value) == message


def test_a_callback_for_another_app_is_refused() -> None:
    with pytest.raises(CallbackError, match=r"app_id: the callback is for app 2014100900011234, but this agent is app 2021000000000001"):
        parse_callback_url(REAL_CALLBACK, expected_app_id="2021000000000001")


def test_out_serial_no_is_stable_per_submission_and_fits_the_api() -> None:
    first = derive_out_serial_no(TEMPLATE_ID, REQUEST_ID)
    assert first == derive_out_serial_no(TEMPLATE_ID, REQUEST_ID)
    assert first != derive_out_serial_no(TEMPLATE_ID, REQUEST_ID[:-1] + "5")
    assert first != derive_out_serial_no(TEMPLATE_ID[:-1] + "5", REQUEST_ID)
    assert len(first) == 32 and first.isalnum()


def test_form_answers_map_to_member_ext_info() -> None:
    answers = {"OPEN_FORM_FIELD_MOBILE": "13552319194", "OPEN_FORM_FIELD_NAME": "李飞",
               "OPEN_FORM_FIELD_GENDER": "女", "OPEN_FORM_FIELD_BIRTHDAY": "1990-02-03",
               "OPEN_FORM_FIELD_CITY": "Shanghai"}  # fmt: skip
    member = member_info_from_form(answers)
    assert member.to_dict() == {"name": "李飞", "gende": "FEMALE", "birth": "1990-02-03", "cell": "13552319194"}
    assert "13552319194" not in repr(member) and "李飞" not in repr(member)


def test_unusable_form_values_are_dropped_not_sent() -> None:
    member = member_info_from_form({"OPEN_FORM_FIELD_GENDER": "other", "OPEN_FORM_FIELD_BIRTHDAY": "03/02/1990"})
    assert member.to_dict() == {}


def test_card_values_are_checked_and_balance_normalised() -> None:
    info = CardValues(level="VIP1", point="120", balance="9.9", external_card_no="EXT-1").to_card_info()
    assert info.to_dict() == {"level": "VIP1", "point": "120", "balance": "9.90", "external_card_no": "EXT-1"}
    for bad in ({"point": "ten"}, {"point": "1.234"}, {"balance": "-1"}, {"balance": "1.001"}, {"balance": "abc"},
                {"external_card_no": ""}, {"level": "x" * 65}):
        with pytest.raises(ValueError):
            CardValues(**bad)


def test_masks_show_enough_to_confirm_with_the_customer() -> None:
    assert mask_mobile("13552319194") == "135****9194"
    assert mask_mobile("12345") == "****"
    assert mask_name("李飞") == "李*"
    assert mask_name("Li Lei") == "L*****"
    assert mask_name("A") == "A*"
