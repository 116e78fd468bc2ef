"""Taking turns between kinds: essential kinds first, then the kind served least recently."""

from __future__ import annotations

from offline_queue.fairness import TakingTurns


def serve(turns: TakingTurns, due: set[str], count: int, essential: set[str] | None = None) -> list[str]:
    order = []
    for _ in range(count):
        kind = turns.next_kind(due, essential or set())
        assert kind is not None
        turns.served(kind)
        order.append(kind)
    return order


def test_two_kinds_with_due_work_alternate_whatever_their_backlogs() -> None:
    turns = TakingTurns()
    assert serve(turns, {"card.authorize"}, 3) == ["card.authorize"] * 3
    # A newcomer is served next, then the two alternate.
    assert serve(turns, {"card.authorize", "card.update"}, 4) == ["card.update", "card.authorize"] * 2


def test_an_essential_kind_goes_before_every_other_kind() -> None:
    turns = TakingTurns()
    due = {"card.authorize", "card.update", "trade.cancel"}
    assert serve(turns, due, 3, essential={"trade.cancel"}) == ["trade.cancel"] * 3
    assert serve(turns, due - {"trade.cancel"}, 2) == ["card.authorize", "card.update"]


def test_nothing_due_means_no_kind() -> None:
    assert TakingTurns().next_kind(set()) is None
