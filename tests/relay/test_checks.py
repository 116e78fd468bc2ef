"""Which callbacks the relay forwards, and to which till: pure, with keys in a dict."""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.fleet.topics import TillRef
from agent.members import out_string
from relay.checks import REASONS, Refusal, route_callback

S1T1 = TillRef("acme", "S1", "T1")
KEYS = {S1T1: os.urandom(32), TillRef("acme", "S2", "T1"): os.urandom(32)}
TEMPLATES = frozenset({"20240101000000000001", "20240101000000000002"})


def route(query: str):  # type: ignore[no-untyped-def]
    return route_callback(query, chain="acme", app_id="2021000000000001", template_ids=TEMPLATES, mac_key_of=KEYS.get)


def query(till: TillRef = S1T1, job: str = "E1", **change: str) -> str:
    params = {"auth_code": "ac0001", "template_id": "20240101000000000002", "request_id": "2026000000001",
              "out_string": out_string.encode(KEYS[till], out_string.SlipRef(till.store, till.till, job)),
              "app_id": "2021000000000001", "scope": "auth_ecard", "state": "bWNhcmQ="}  # fmt: skip
    params.update(change)
    return urlencode({k: v for k, v in params.items() if v != "-"})


def test_a_genuine_callback_is_routed_to_the_till_its_out_string_names() -> None:
    routed = route(query(TillRef("acme", "S2", "T1"), "E-7"))
    assert routed.till == TillRef("acme", "S2", "T1")
    assert routed.params["out_string"].startswith("v1.S2.T1.E-7.") and routed.values.request_id == "2026000000001"
    assert "ac0001" not in repr(routed)


@pytest.mark.parametrize(("change", "reason", "words"), [
    ({"out_string": "-"}, "out_string", "cannot be routed"),
    ({"out_string": "v2.S1.T1.E1.AAAAAAAAAAAAAAAAAAAAAA"}, "out_string", "version"),
    ({"out_string": "v1.S9.T1.E1.AAAAAAAAAAAAAAAAAAAAAA"}, "unknown_till", "store S9 till T1 is not a till"),
    ({"out_string": "v1.S1.T1.E1.AAAAAAAAAAAAAAAAAAAAAA"}, "mac", "does not verify"),
    ({"template_id": "20240101000000000003"}, "template", "not one of the chain's card templates"),
    ({"app_id": "2021000000000009"}, "app", "not this agent's app"),
    ({"auth_code": "-"}, "parameters", "auth_code is required"),
    ({"request_id": "a b"}, "parameters", "request_id"),
    ({"extra": "1"}, "parameters", "unexpected parameters"),
])  # fmt: skip
def test_refusals_say_why_and_never_quote_the_code(change: dict[str, str], reason: str, words: str) -> None:
    with pytest.raises(Refusal) as refused:
        route(query(**change))
    assert refused.value.reason == reason and reason in REASONS
    assert words in refused.value.message and "ac0001" not in refused.value.message


def test_too_many_or_repeated_parameters_are_refused_before_parsing() -> None:
    with pytest.raises(Refusal, match="too many parameters"):
        route(query() + "&x=1" * 20)
    with pytest.raises(Refusal, match="given twice"):
        route(query() + "&scope=again")


@given(st.integers(min_value=3, max_value=200), st.characters(codec="ascii"))
def test_any_edit_of_a_genuine_out_string_is_refused(position: int, char: str) -> None:
    genuine = out_string.encode(KEYS[TillRef("acme", "S1", "T1")], out_string.SlipRef("S1", "T1", "E1"))
    position %= len(genuine)
    edited = genuine[:position] + char + genuine[position + 1 :]
    if edited == genuine:
        return
    with pytest.raises(Refusal):
        route(query(out_string=edited))
