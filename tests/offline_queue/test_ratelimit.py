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


def test_try_take_sheds_instead_of_reserving() -> None:
    bucket = TokenBucket(1, burst=2, now=0.0)
    assert [bucket.try_take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.tokens(0.0) == pytest.approx(0.0)  # the refused call reserved nothing
    assert bucket.try_take(0.5) is False
    assert bucket.try_take(1.0) is True


def test_a_clock_stepping_back_mints_no_tokens() -> None:
    bucket = TokenBucket(1, burst=1, now=100.0)
    assert bucket.try_take(100.0) is True
    assert bucket.try_take(50.0) is False
    assert bucket.try_take(100.5) is False  # only time really elapsed since 100.0 counts
    assert bucket.try_take(101.0) is True


def test_a_bucket_is_full_again_after_idling() -> None:
    bucket = TokenBucket(2, burst=4, now=0.0)
    bucket.try_take(0.0)
    assert not bucket.full(0.0)
    assert bucket.full(0.5)
