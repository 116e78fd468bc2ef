"""Calls-per-second limit: a token bucket driven by explicit times."""

from __future__ import annotations

import pytest

from offline_queue.ratelimit import TokenBucket


def test_a_burst_passes_then_calls_are_spaced_at_the_rate() -> None:
    bucket = TokenBucket(10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)  # reservations queue up


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    bucket = TokenBucket(2, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == pytest.approx(0.5)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
