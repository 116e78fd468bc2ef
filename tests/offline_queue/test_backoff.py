"""Retry delays: exponential growth, full jitter, a cap; pure and reproducible."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offline_queue import Backoff

backoffs = st.builds(
    lambda base, factor, extra: Backoff(base=base, factor=factor, cap=base + extra),
    st.floats(0.01, 60),
    st.floats(1, 4),
    st.floats(0, 3600),
)


@given(backoffs, st.integers(1, 10_000), st.integers(0, 2**32))
def test_delay_is_between_zero_and_the_capped_exponential_ceiling(backoff: Backoff, attempts: int, seed: int) -> None:
    delay = backoff.delay(attempts, random.Random(seed))
    assert 0.0 <= delay <= backoff.ceiling(attempts) <= backoff.cap


@given(backoffs, st.integers(1, 200))
def test_ceiling_never_shrinks_as_attempts_grow(backoff: Backoff, attempts: int) -> None:
    assert backoff.ceiling(attempts) <= backoff.ceiling(attempts + 1)


@given(st.integers(0, 2**32))
def test_same_rng_seed_gives_the_same_delays(seed: int) -> None:
    backoff = Backoff(base=1, cap=300)
    first = [backoff.delay(n, random.Random(seed)) for n in range(1, 12)]
    again = [backoff.delay(n, random.Random(seed)) for n in range(1, 12)]
    assert first == again


def test_ceiling_doubles_from_base_until_the_cap() -> None:
    backoff = Backoff(base=1, factor=2, cap=30)
    assert [backoff.ceiling(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(10**9) == 30  # no overflow for absurd attempt counts


def test_full_jitter_spreads_over_the_whole_window() -> None:
    backoff = Backoff(base=10, cap=10)
    rng = random.Random(1)
    delays = [backoff.delay(5, rng) for _ in range(2000)]
    assert min(delays) < 1.0 and max(delays) > 9.0  # not "equal jitter" (which never goes below half)


@pytest.mark.parametrize("kwargs", [{"base": 0}, {"base": 10, "cap": 5}, {"factor": 0.5}])
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError):
        Backoff().ceiling(0)
