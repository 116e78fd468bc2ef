"""The callback checks the agent's endpoint and headquarters' relay share: one set of rules, one wording."""

from __future__ import annotations

import pytest

from agent.members.callback_checks import (
    MAX_PARAMETERS,
    CallbackValues,
    WrongApp,
    WrongTemplate,
    check_values,
    query_params,
)
from agent.members.open_card import CallbackError

GOOD = {"auth_code": "ac0001", "template_id": "20240101000000000001", "request_id": "2026000000001",
        "app_id": "2021000000000001", "out_string": "v1.S1.T1.E1.x", "scope": "auth_ecard"}  # fmt: skip


def check(**change: object) -> CallbackValues:
    return check_values({**GOOD, **change}, app_id="2021000000000001", template_ids={"20240101000000000001"})


def test_a_good_callback_gives_its_values_and_hides_the_code() -> None:
    values = check()
    assert (values.template_id, values.request_id, values.out_string) == ("20240101000000000001", "2026000000001",
                                                                          "v1.S1.T1.E1.x")  # fmt: skip
    assert "ac0001" not in repr(values)
    assert check(out_string="").out_string is None and check(app_id="").app_id is None


def test_the_app_and_the_template_are_refused_with_their_own_classes() -> None:
    with pytest.raises(WrongApp):
        check(app_id="2021000000000002")
    with pytest.raises(WrongTemplate):
        check(template_id="20240101000000000002")
    assert issubclass(WrongApp, CallbackError) and issubclass(WrongTemplate, CallbackError)


def test_the_query_is_counted_before_it_is_parsed() -> None:
    assert query_params("a=1&&b=") == {"a": "1", "b": ""}
    with pytest.raises(CallbackError, match=rf"too many parameters \(5000; a callback has at most {MAX_PARAMETERS}\)"):
        query_params("&".join(f"p{n}=1" for n in range(5000)))
    with pytest.raises(CallbackError, match="given twice"):
        query_params("a=1&a=2")
