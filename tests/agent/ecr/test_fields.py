"""Body field rules (docs/ecr-protocol.md, "Field rules"): one grammar per kind of field, and a
BAD_REQUEST that names the field and its rule. Everything Python would quietly convert (Unicode
digits, spaces, underscores, exponents, booleans as integers) is refused."""

from __future__ import annotations

from typing import Any

import pytest

from agent.ecr import fields
from agent.ecr.messages import ErrorCode, ProtocolError


def refused(check: Any, value: object, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ProtocolError) as info:
        check({"f": value}, "f", *args, **kwargs)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.message.startswith("f ")  # names the field
    return info.value.message


@pytest.mark.parametrize("value", ["A1", "a-b_c.d:e", "x" * 64, "2026-11-25T10:00:00"])
def test_business_ids_take_the_documented_characters(value: str) -> None:
    assert fields.business_id({"id": value}, "id") == value


@pytest.mark.parametrize(
    "value",
    ["a b", "a/b", "é", "A1\n", "\nA1", "x" * 65, "", "a\x00", "Ａ1", "١", 12, True, ["A1"], "a+b", "a%2Fb"],
)
def test_business_ids_refuse_everything_else(value: object) -> None:
    assert "A-Z a-z 0-9 _ . : -" in refused(fields.business_id, value)


def test_a_required_id_that_is_missing_says_so() -> None:
    with pytest.raises(ProtocolError, match="sale_id is required"):
        fields.business_id({}, "sale_id")


def test_card_numbers_are_ids_of_at_most_32_characters() -> None:
    assert fields.optional_id({"card_no": "LOTUS" + "0" * 27}, "card_no", max_len=32) == "LOTUS" + "0" * 27
    assert "1-32 characters" in refused(fields.optional_id, "LOTUS" + "0" * 28, max_len=32)


@pytest.mark.parametrize(("value", "normalised"), [("9.9", "9.90"), ("1", "1.00"), ("100000000", "100000000.00")])
def test_amounts_are_normalised(value: str, normalised: str) -> None:
    assert fields.amount({"amount": value}, "amount") == normalised


@pytest.mark.parametrize("value", ["1e3", " 1", "１", "١", "1_0", "01", "-1", "0", 9.9, 1000, True, ""])
def test_amounts_outside_the_grammar_are_refused(value: object) -> None:
    refused(fields.amount, value)


@pytest.mark.parametrize("value", ["0", "1250", "-50", "12.5", "-0.01", "9999999999999999.99"])
def test_points_take_signed_decimals(value: str) -> None:
    assert fields.points({"p": value}, "p") == value


@pytest.mark.parametrize(
    "value", ["-0", "-0.00", "1e3", "１", "1_0", " 1", "+1", "01", "1.234", "NaN", "Infinity", 5, True, 1.5]
)
def test_points_refuse_negative_zero_and_everything_python_would_convert(value: object) -> None:
    refused(fields.points, value)


@pytest.mark.parametrize("value", ["-1", "1e2", "١٠", "88.505", " 88.50", 88.5])
def test_balances_are_never_negative_and_plain_ascii(value: object) -> None:
    refused(fields.balance, value)
    assert fields.balance({"b": "88.50"}, "b") == "88.50"


@pytest.mark.parametrize(
    "value",
    ["２０２６-11-25 10:00:00", "2026-1-25 10:00:00", "2026-11-25T10:00:00", "2026-02-30 10:00:00",
     "2026-11-25 24:00:00", "2026-11-25 10:00:00\n", "", 1795640937],
)  # fmt: skip
def test_times_are_ascii_and_real(value: object) -> None:
    refused(fields.timestamp, value)
    assert fields.timestamp({"t": "2026-11-25 10:00:00"}, "t") == "2026-11-25 10:00:00"


@pytest.mark.parametrize(
    ("value", "china"),
    [("2026-11-25T10:00:00+08:00", "2026-11-25 10:00:00"), ("2026-11-25T02:00:00Z", "2026-11-25 10:00:00"),
     ("2026-11-25T03:00:00+01:00", "2026-11-25 10:00:00"), ("2026-11-24T21:00:00.250-05:00", "2026-11-25 10:00:00"),
     ("2026-12-31T20:30:00Z", "2027-01-01 04:30:00")],
)  # fmt: skip
def test_iso_8601_with_an_offset_is_converted_to_china_time(value: str, china: str) -> None:
    assert fields.timestamp({"occur_time": value}, "occur_time") == china


def test_an_iso_time_refused_says_which_formats_are_taken() -> None:
    message = refused(fields.timestamp, "2026-11-25T10:00:00")
    assert "without an offset" in message and "+08:00" in message
    message = refused(fields.timestamp, "2026-11-25T10:00:00+0800")
    assert "'yyyy-MM-dd HH:mm:ss' in China time" in message and "ISO 8601 with its offset" in message
    assert "characters" not in message
    for bad in ("２０２６-11-25T10:00:00Z", "2026-02-30T10:00:00Z", "0001-01-01T00:00:00+14:00"):
        refused(fields.timestamp, bad)


@pytest.mark.parametrize("value", ["１２３", "²", "١٢٣", "12 3", "12\n", "-1", "1" * 65, 123])
def test_payment_codes_are_ascii_digits(value: object) -> None:
    refused(fields.digits, value, max_len=64)


@pytest.mark.parametrize("value", ["a\x1bp\x00", "line\nbreak", "tab\there", "\x7f", "\x9b", "\ud800", ""])
def test_texts_have_no_control_characters(value: str) -> None:
    refused(fields.text, value)


def test_texts_take_any_script() -> None:
    assert fields.text({"s": "收银台 1 — Café №5"}, "s") == "收银台 1 — Café №5"


def test_slip_lines_carry_no_printer_commands() -> None:
    assert fields.lines({"l": ["Thank you", "", "谢谢"]}, "l", required=True) == ("Thank you", "", "谢谢")
    for bad in (["\x1bd\x05"], ["ok", "\x1dV\x00"], [], ["x" * 501], [1], "text", ["x"] * 201):
        refused(fields.lines, bad, required=True)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", 2**70, 0, -1, None])
def test_integers_are_json_integers_within_range(value: object) -> None:
    assert "an integer 1-500" in refused(fields.integer, value, minimum=1, maximum=500)


def test_flags_are_booleans() -> None:
    assert fields.boolean({}, "cut", default=True) is True
    refused(fields.boolean, 1, default=True)


def test_qr_data_may_hold_anything_but_nul() -> None:
    assert fields.payload({"d": "BEGIN:VCARD\nFN:李\nEND:VCARD"}, "d", max_len=2000).startswith("BEGIN")
    refused(fields.payload, "a\x00b", max_len=2000)
