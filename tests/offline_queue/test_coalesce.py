"""Coalescing of absolute-valued updates: only the newest state per key is ever sent last."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from offline_queue.coalesce import decide


def test_older_than_the_watermark_is_stale_and_supersedes_nothing() -> None:
    decision = decide(5.0, 10.0, [(1, 10.0)])
    assert decision.stale and decision.supersede == () and decision.watermark == 10.0


def test_newer_supersedes_every_pending_one_and_raises_the_watermark() -> None:
    decision = decide(12.0, 10.0, [(1, 8.0), (2, 10.0)])
    assert not decision.stale and decision.supersede == (1, 2) and decision.watermark == 12.0


def test_equal_business_time_counts_as_newer() -> None:
    decision = decide(10.0, 10.0, [(1, 10.0)])
    assert not decision.stale and decision.supersede == (1,)


def test_first_update_for_a_key_is_accepted() -> None:
    decision = decide(3.0, None, [])
    assert not decision.stale and decision.watermark == 3.0


# A model of one card: updates arrive in any order; a sender sends the pending one now and then.
arrivals = st.lists(
    st.tuples(st.integers(0, 50), st.booleans()),  # (business time, send one pending job afterwards?)
    min_size=1,
    max_size=60,
)


@given(arrivals)
def test_sent_states_never_go_back_in_time_and_the_newest_is_sent_last(steps: list[tuple[int, bool]]) -> None:
    watermark: float | None = None
    pending: dict[int, float] = {}
    sent: list[float] = []
    for job_id, (when, send_now) in enumerate(steps):
        decision = decide(float(when), watermark, pending.items())
        watermark = decision.watermark
        for obsolete in decision.supersede:
            del pending[obsolete]
        if not decision.stale:
            pending[job_id] = float(when)
        assert len(pending) <= 1  # at most one pending update per card: the newest
        if send_now and pending:
            (oldest_id,) = pending
            sent.append(pending.pop(oldest_id))
    sent.extend(pending.values())  # drain
    assert sent == sorted(sent)  # never an older state after a newer one
    assert sent[-1] == max(when for when, _ in steps)  # the newest state is what the card ends with
