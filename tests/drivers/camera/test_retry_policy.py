"""On a live stream, retries spend at most a small share of the first reads' time.

A frame in which zxing-cpp located a symbol it could not decode gets every retry first; a frame
with nothing located gets only the cheap ones, now and then, with a full retry kept in reserve.
"""

from __future__ import annotations

from drivers.camera.retry_policy import CAP_FULL_RETRIES, STREAM_RETRY_SHARE, StreamRetry, StreamRetryBudget

FIRST_READ = 1.0
COST = {StreamRetry.FULL: 13.0, StreamRetry.CHEAP: 0.3}  # in first reads, as measured on 640x480


def run(frames: int, *, located: bool, budget: StreamRetryBudget | None = None) -> dict[StreamRetry, int]:
    """The retries of each kind made over `frames` frames that decode nothing."""
    budget = budget or StreamRetryBudget()
    made = dict.fromkeys(StreamRetry, 0)
    for _ in range(frames):
        budget.earn(FIRST_READ)
        retry = budget.decide(located=located)
        made[retry] += 1
        if retry is not StreamRetry.NONE:
            budget.spend(retry, COST[retry] * FIRST_READ)
    return made


def seconds(made: dict[StreamRetry, int]) -> float:
    return sum(COST[kind] * FIRST_READ * count for kind, count in made.items() if kind in COST)


def test_a_fresh_stream_does_not_retry_an_empty_frame() -> None:
    budget = StreamRetryBudget()
    budget.earn(FIRST_READ)
    assert budget.decide(located=False) is StreamRetry.NONE


def test_a_fresh_stream_fully_retries_a_frame_with_a_located_symbol() -> None:
    budget = StreamRetryBudget()
    budget.earn(FIRST_READ)
    assert budget.decide(located=True) is StreamRetry.FULL


def test_an_idle_stream_makes_only_cheap_retries_now_and_then_within_its_share() -> None:
    frames = 2000
    made = run(frames, located=False)
    assert made[StreamRetry.FULL] == 0
    assert made[StreamRetry.CHEAP] > 100  # a code zxing-cpp cannot locate still gets its chances
    assert seconds(made) <= STREAM_RETRY_SHARE * frames * FIRST_READ + COST[StreamRetry.FULL]


def test_a_symbol_located_in_every_frame_stays_within_the_share_too() -> None:
    # e.g. a damaged sticker that stays in view: located, never decoded
    frames = 2000
    made = run(frames, located=True)
    assert made[StreamRetry.FULL] > 0
    assert seconds(made) <= STREAM_RETRY_SHARE * frames * FIRST_READ + COST[StreamRetry.FULL]


def test_after_an_idle_spell_a_located_symbol_is_fully_retried_at_once() -> None:
    budget = StreamRetryBudget()
    run(1000, located=False, budget=budget)
    budget.earn(FIRST_READ)
    assert budget.decide(located=True) is StreamRetry.FULL


def test_an_idle_hour_does_not_buy_a_burst_of_retries() -> None:
    budget = StreamRetryBudget(full_cost=COST[StreamRetry.FULL])
    for _ in range(100_000):
        budget.earn(FIRST_READ)
    burst = run(10, located=True, budget=budget)
    assert burst[StreamRetry.FULL] <= CAP_FULL_RETRIES + 1


def test_an_overspent_retry_is_paid_back_before_the_next() -> None:
    budget = StreamRetryBudget()
    budget.earn(FIRST_READ)
    assert budget.decide(located=True) is StreamRetry.FULL
    budget.spend(StreamRetry.FULL, COST[StreamRetry.FULL])
    budget.earn(FIRST_READ)
    assert budget.decide(located=True) is StreamRetry.NONE
    assert budget.decide(located=False) is StreamRetry.NONE


def test_a_bigger_frame_raises_the_reserve_at_once() -> None:
    # Costs are kept relative to the frame's first read: after a switch to 4x the pixels, the
    # full retry held in reserve is 4x too, before any retry at the new size was timed.
    budget = StreamRetryBudget()
    run(1000, located=False, budget=budget)
    budget.earn(4 * FIRST_READ)
    assert budget.decide(located=False) is StreamRetry.NONE
