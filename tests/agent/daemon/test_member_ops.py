"""loyalty.update's body: `points` is the new total's canonical name, `point` its deprecated alias, and
no relative operation is offered (docs/ecr-protocol.md, `loyalty.update`)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.daemon.member_ops import loyalty_update_from
from agent.ecr.messages import ErrorCode, ProtocolError

BASE = {"update_id": "U1", "card_no": "LOTUS0000000001", "occur_time": "2026-11-25 10:00:00"}


@pytest.mark.parametrize("body", [{"points": "180"}, {"point": "180"}, {"points": "180", "point": "180.00"}])
def test_points_and_its_deprecated_name_point_set_the_same_total(body: dict[str, Any]) -> None:
    assert loyalty_update_from({**BASE, **body}).point == "180"


def test_the_same_update_by_either_name_is_one_update() -> None:
    # Same payload: a resend that switched to the canonical name is the same update, not a conflict.
    assert loyalty_update_from({**BASE, "point": "180"}) == loyalty_update_from({**BASE, "points": "180"})


@pytest.mark.parametrize(
    ("body", "words"),
    [({"points": "180", "point": "170"}, "differ"),
     ({"point": "1e3"}, "point must be"),
     ({"points_delta": "20"}, "points_delta is not supported"),
     ({"points": "180", "points_delta": "20"}, "points_delta is not supported")],
)  # fmt: skip
def test_a_contradiction_or_a_relative_change_is_refused(body: dict[str, Any], words: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        loyalty_update_from({**BASE, **body})
    assert refused.value.code is ErrorCode.BAD_REQUEST and words in refused.value.message
