"""Code classification: what the flows do with a scanned code depends on it."""

from __future__ import annotations

import pytest

from agent.codes import CodeClass, classify, display, mask

ACTIVATION_URL = (
    "https://memberprod.alipay.com/account/openform/activecard.htm?app_id=2017070707672608"
    "&template_id=20170911000000000515841000300417&callback=%2Falicard%2Fbackend%2Fdefault%2Fopen"
)


@pytest.mark.parametrize(
    "code",
    [
        "2800000000000000",  # 16 digits, the shortest
        "250000000000000000",
        "2912345678901234567890",
        "300000000000000000000000",  # 24 digits, the longest
        " 286543210987654321\r\n",  # surrounding whitespace from a scanner
    ],
)
def test_alipay_payment_codes_are_16_to_24_digits_starting_25_to_30(code: str) -> None:
    result = classify(code)
    assert result.kind is CodeClass.ALIPAY_PAYMENT
    assert result.supported
    assert result.is_secret


@pytest.mark.parametrize(
    "code",
    [
        "280000000000000",  # 15 digits
        "3000000000000000000000000",  # 25 digits
        "310000000000000000",  # prefix 31
        "240000000000000000",  # prefix 24
        "28000000000000000a",
        "２８６５４３２１０９８７６５４３２１",  # full-width digits
        "28654321098765432\u0661",  # an Arabic-Indic digit
    ],
)
def test_near_misses_are_not_payment_codes(code: str) -> None:
    assert classify(code).kind is not CodeClass.ALIPAY_PAYMENT


def test_face_pay_token_is_an_alipay_payment_credential() -> None:
    assert classify("fp" + "a1" * 16 + "b").kind is CodeClass.ALIPAY_PAYMENT


def test_wechat_and_unionpay_codes_are_recognised_as_unsupported_secrets() -> None:
    wechat = classify("134567890123456789")
    unionpay = classify("6212345678901234567")
    assert (wechat.kind, wechat.supported, wechat.is_secret) == (CodeClass.WECHAT_PAYMENT, False, True)
    assert (unionpay.kind, unionpay.supported, unionpay.is_secret) == (CodeClass.UNIONPAY_PAYMENT, False, True)


def test_member_card_by_configured_prefix_and_length() -> None:
    def kind(code: str) -> CodeClass:
        return classify(code, card_prefixes=("VIP", "88"), card_length=10).kind

    assert kind("VIP0001234") is CodeClass.MEMBER_CARD
    assert kind("8800012345") is CodeClass.MEMBER_CARD
    assert kind("VIP00012345") is CodeClass.UNKNOWN  # wrong length
    assert kind("XYZ0001234") is CodeClass.UNKNOWN  # wrong prefix


def test_member_cards_need_a_configured_prefix() -> None:
    assert classify("VIP0001234").kind is CodeClass.UNKNOWN


def test_payment_code_wins_over_an_overlapping_card_prefix() -> None:
    # A payment code sent to the member look-up would leak a credential: the safer reading wins.
    assert classify("286543210987654321", card_prefixes=("28",)).kind is CodeClass.ALIPAY_PAYMENT


def test_activation_url_from_our_slip_is_recognised() -> None:
    assert classify(ACTIVATION_URL).kind is CodeClass.ACTIVATION_URL


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/account/openform/activecard.htm?template_id=1",  # not Alipay
        "https://memberprod.alipay.com.evil.example/account/openform/activecard.htm?template_id=1",
        "https://memberprod.alipay.com/other.htm?template_id=1",
        "alipays://platformapi/startapp?appId=20000067",
        "http://www.example.com/",
    ],
)
def test_other_urls_are_plain_urls(url: str) -> None:
    assert classify(url).kind is CodeClass.URL


@pytest.mark.parametrize("code", ["", "hello world", "MEBKM:URL:http://x;;", "12345"])
def test_anything_else_is_unknown(code: str) -> None:
    assert classify(code).kind is CodeClass.UNKNOWN


def test_classification_never_holds_the_code() -> None:
    code = "286543210987654321"
    assert code not in repr(classify(code))
    assert "543210987" not in repr(classify(code))


def test_mask_keeps_first_two_and_last_four_of_long_codes() -> None:
    assert mask("286543210987654321") == "28************4321"
    assert mask("2865432109876543") == "************6543"
    assert mask("12345") == "*****"


@pytest.mark.parametrize("n", range(0, 30))
def test_mask_never_reveals_more_than_a_third(n: int) -> None:
    masked = mask("7" * n)
    assert len(masked) == n
    assert masked.count("7") <= n // 3


def test_display_hides_url_queries_and_masks_the_rest() -> None:
    assert display(ACTIVATION_URL, classify(ACTIVATION_URL)) == (
        "https://memberprod.alipay.com/account/openform/activecard.htm?..."
    )
    assert display("https://u:pw@example.com/a", classify("https://u:pw@example.com/a")) == "https://example.com/a"
    code = "286543210987654321"
    assert display(code, classify(code)) == mask(code)
