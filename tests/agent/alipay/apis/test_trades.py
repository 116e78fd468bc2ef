"""normalise_amount: the one amount grammar (docs/ecr-protocol.md, field rules), before Decimal sees the text."""

from __future__ import annotations

import pytest

from agent.alipay.apis import normalise_amount


@pytest.mark.parametrize(
    ("given", "sent"),
    [("1", "1.00"), ("9.9", "9.90"), ("0.01", "0.01"), ("0.5", "0.50"), ("12.34", "12.34"),
     ("99999999.99", "99999999.99"), ("100000000", "100000000.00"), ("100000000.00", "100000000.00")],
)  # fmt: skip
def test_plain_ascii_amounts_are_normalised_to_two_decimals(given: str, sent: str) -> None:
    assert normalise_amount(given) == sent


@pytest.mark.parametrize(
    "given",
    [
        "1e3", "1E2", "1e-2",  # exponents: Decimal reads "1e3" as 1000
        " 1", "1 ", "\t1", "1\n",  # surrounding whitespace
        "１", "١", "۱", "१", "1٠",  # full-width, Arabic-Indic, Extended Arabic-Indic, Devanagari digits
        "1_0", "1,00", "1'000",  # separators
        "+1", "-1", "-0.01",  # signs
        "01", "00.5", "1.", ".5", "1.001", "1.0.0",  # not the grammar
        "NaN", "Infinity", "-Infinity", "sNaN", "0x10", "",  # not numbers at all
        "0", "0.00", "0.001", "100000000.01", "999999999",  # out of [0.01, 100000000]
    ],
)  # fmt: skip
def test_anything_else_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="amount must"):
        normalise_amount(given)


@pytest.mark.parametrize("given", [9.9, 1, True, None])
def test_only_strings_are_amounts(given: object) -> None:
    with pytest.raises(ValueError, match="amount must"):
        normalise_amount(given)  # type: ignore[arg-type]
