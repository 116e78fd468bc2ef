"""On a live stream, retries spend at most a small share of the first reads' time.

A frame in which zxing-cpp located a symbol it could not decode is retried first; a frame with
nothing located only now and then, with one retry's worth kept in reserve.
"""

from __future__ import annotations

from drivers.camera.retry_policy import RESERVE, STREAM_RETRY_SHARE, StreamRetryBudget

FIRST_READ = 1.0
RETRY = 12.0  # a retry costs 7x-14x a first read


def run(frames: int, *, located: bool, budget: StreamRetryBudget | None = None) -> tuple[int, float]:
    """Retries made over `frames` frames that decode nothing, and the seconds they took."""
    budget = budget or StreamRetryBudget()
    retries = 0
    for _ in range(frames):
        budget.earn(FIRST_READ)
        if budget.should_retry(located=located):
            budget.spend(RETRY)
            retries += 1
    return retries, retries * RETRY


def test_a_fresh_stream_does_not_retry_an_empty_frame() -> None:
    budget = StreamRetryBudget()
    budget.earn(FIRST_READ)
    assert not budget.should_retry(located=False)


def test_a_fresh_stream_retries_a_frame_with_a_located_symbol() -> None:
    budget = StreamRetryBudget()
    budget.earn(FIRST_READ)
    assert budget.should_retry(located=True)


def test_an_idle_stream_retries_now_and_then_within_its_share() -> None:
    frames = 2000
    retries, seconds = run(frames, located=False)
    assert retries > 0  # a code zxing-cpp cannot even locate still gets its chance
    assert seconds <= STREAM_RETRY_SHARE * frames * FIRST_READ + RESERVE * RETRY


def test_a_symbol_located_in_every_frame_stays_within_the_share_too() -> None:
    # e.g. a damaged sticker that stays in view: located, never decoded
    frames = 2000
    retries, seconds = run(frames, located=True)
    assert retries > 0
    assert seconds <= STREAM_RETRY_SHARE * frames * FIRST_READ + RETRY


def test_after_an_idle_spell_a_located_symbol_is_retried_at_once() -> None:
    budget = StreamRetryBudget()
    run(1000, located=False, budget=budget)
    budget.earn(FIRST_READ)
    assert budget.should_retry(located=True)


def test_an_idle_hour_does_not_buy_a_burst_of_retries() -> None:
    budget = StreamRetryBudget(retry_seconds=RETRY)
    for _ in range(100_000):
        budget.earn(FIRST_READ)
    burst, _ = run(10, located=True, budget=budget)
    assert burst <= RESERVE + 1


def test_an_overspent_retry_is_paid_back_before_the_next() -> None:
    budget = StreamRetryBudget()
    budget.earn(FIRST_READ)
    assert budget.should_retry(located=True)
    budget.spend(RETRY)
    budget.earn(FIRST_READ)
    assert not budget.should_retry(located=True)
