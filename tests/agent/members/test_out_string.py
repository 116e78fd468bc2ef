"""The out_string printed in each activation URL: readable, routable, and unforgeable without the key."""

from __future__ import annotations

import pytest

from agent.members.out_string import MAX_LENGTH, OutStringError, SlipRef, encode, parse, verify

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
LONGEST = SlipRef("S" * 16, "T" * 16, "j" * 64)


def test_store_till_and_job_read_back_and_verify() -> None:
    text = encode(KEY, SlipRef("SH01", "T1", "E-42"))
    assert text.startswith("v1.SH01.T1.E-42.") and len(text) == len("v1.SH01.T1.E-42.") + 22
    assert verify(KEY, text) == SlipRef("SH01", "T1", "E-42")


def test_job_ids_with_dots_and_colons_survive() -> None:
    ref = SlipRef("S1", "T1", "2026.11:enroll-7_a")
    assert verify(KEY, encode(KEY, ref)) == ref


def test_the_longest_ids_stay_within_alipays_limit() -> None:
    text = encode(KEY, LONGEST)
    assert len(text) <= 128 < MAX_LENGTH
    assert verify(KEY, text) == LONGEST


def test_a_relay_routes_by_store_and_till_without_the_key() -> None:
    assert parse(encode(KEY, SlipRef("SH01", "T3", "E9"))) == SlipRef("SH01", "T3", "E9")


def test_the_audit_case_another_customers_enrollment_cannot_be_claimed() -> None:
    # The customer edits their own callback's out_string to name the victim's pending enrollment.
    mine = encode(KEY, SlipRef("SH01", "T1", "E-41"))
    edited = mine.replace(".E-41.", ".E-42.")
    with pytest.raises(OutStringError, match="does not verify"):
        verify(KEY, edited)


@pytest.mark.parametrize("position", range(len("v1.SH01.T1.E-42.") + 22))
def test_any_single_character_changed_is_refused(position: int) -> None:
    text = encode(KEY, SlipRef("SH01", "T1", "E-42"))
    swapped = "A" if text[position] != "A" else "B"
    with pytest.raises(OutStringError):
        verify(KEY, text[:position] + swapped + text[position + 1 :])


def test_an_out_string_of_another_till_does_not_verify_here() -> None:
    with pytest.raises(OutStringError, match="does not verify"):
        verify(KEY, encode(OTHER_KEY, SlipRef("SH01", "T1", "E-42")))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SH01:T1:E-42", "not written by this agent"),  # printed by the previous release: no MAC
        ("123", "not written by this agent"),
        ("v2.SH01.T1.E-42.AAAAAAAAAAAAAAAAAAAAAA", "version this agent does not know"),
        ("v1.SH01.T1.E-42", "malformed"),
        ("v1.SH01.T1..AAAAAAAAAAAAAAAAAAAAAA", "malformed"),
        ("v1.SH01.T1.E 42.AAAAAAAAAAAAAAAAAAAAAA", "malformed"),
        ("v1." + "x" * 300, "longer than 256"),
        ("v1.SH01.T1.E-42.AAAAAAAAAAAAAAAAAAAAAA\n", "malformed"),
    ],
)
def test_malformed_or_foreign_out_strings_are_refused_without_quoting_them(text: str, message: str) -> None:
    with pytest.raises(OutStringError, match=message) as caught:
        verify(KEY, text)
    assert text not in str(caught.value)


def test_ids_outside_the_layout_cannot_be_encoded() -> None:
    for ref in (SlipRef("S.1", "T1", "E1"), SlipRef("S1", "T" * 17, "E1"), SlipRef("S1", "T1", "E/1"),
                SlipRef("S1", "T1", "")):  # fmt: skip
        with pytest.raises(ValueError):
            encode(KEY, ref)
