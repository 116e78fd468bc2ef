"""The member object of member.lookup: `points` (canonical) and `point` (deprecated) carry one value."""

from __future__ import annotations

from agent.members.service import MEMBER_FIELDS, member_view


def test_points_is_answered_and_point_still_is() -> None:
    view = member_view({"card_no": "LOTUS0000000001", "level": "VIP1", "point": "180"})
    assert view["points"] == view["point"] == "180"
    assert set(view) == set(MEMBER_FIELDS) and view["balance"] is None


def test_an_unknown_total_is_null_under_both_names() -> None:
    view = member_view({"card_no": "LOTUS0000000001"})
    assert view["points"] is None and view["point"] is None
