"""Scripted payment codes: the buyer's behaviour is written in the code's digits (pure rules).

Every code must look real: `^(2[5-9]|30)\\d{14,22}$` (16-24 digits, prefix 25-30). The third digit
picks the scenario when it is `9`; any other third digit pays at once:

| code (16 digits shown)    | rule                         | behaviour                                       |
|---------------------------|------------------------------|-------------------------------------------------|
| `28xxxxxxxxxxxxxx` (x!=9) | third digit not 9            | paid at once (10000, TRADE_SUCCESS)             |
| `2891NN..........`        | `91` + two digits NN         | 10003; WAIT_BUYER_PAY until NN seconds passed,  |
|                           |                              | then TRADE_SUCCESS (NN=00 -> paid at 1st query) |
| `2892............`        | `92`                         | 40004 ACQ.BUYER_BALANCE_NOT_ENOUGH (closed)     |
| `2893............`        | `93`                         | 40004 ACQ.PAYMENT_AUTH_CODE_INVALID (no trade)  |
| `2894............`        | `94`                         | 10003, WAIT_BUYER_PAY forever (until cancelled) |
| `2890...`, `2895`-`2899`  | other `9x`                   | paid at once                                    |

A code that does not match the pattern is ACQ.PAYMENT_AUTH_CODE_INVALID."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

PAYMENT_CODE = re.compile(r"(2[5-9]|30)\d{14,22}", re.ASCII)


class Behaviour(Enum):
    PAID = "paid"
    NEEDS_CONFIRMATION = "needs_confirmation"
    BALANCE_NOT_ENOUGH = "balance_not_enough"
    CODE_INVALID = "code_invalid"
    NEVER_COMPLETES = "never_completes"


@dataclass(frozen=True)
class CodeRule:
    behaviour: Behaviour
    confirm_after: float = 0.0  # seconds, for NEEDS_CONFIRMATION


_BY_SELECTOR = {
    "92": Behaviour.BALANCE_NOT_ENOUGH,
    "93": Behaviour.CODE_INVALID,
    "94": Behaviour.NEVER_COMPLETES,
}


def classify(code: str) -> CodeRule:
    if not PAYMENT_CODE.fullmatch(code):
        return CodeRule(Behaviour.CODE_INVALID)
    selector = code[2:4]
    if selector == "91":
        return CodeRule(Behaviour.NEEDS_CONFIRMATION, confirm_after=float(int(code[4:6])))
    return CodeRule(_BY_SELECTOR.get(selector, Behaviour.PAID))


def example(behaviour: Behaviour, *, confirm_after: int = 5, length: int = 18) -> str:
    """A code of `length` digits that triggers `behaviour` (handy for tests and demos)."""
    head = {
        Behaviour.PAID: "2810",
        Behaviour.NEEDS_CONFIRMATION: f"2891{confirm_after:02d}",
        Behaviour.BALANCE_NOT_ENOUGH: "2892",
        Behaviour.CODE_INVALID: "2893",
        Behaviour.NEVER_COMPLETES: "2894",
    }[behaviour]
    return head + "1" * (length - len(head))
