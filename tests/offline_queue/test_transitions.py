"""What each handler outcome does to a job (pure)."""

from __future__ import annotations

import random

import pytest

from offline_queue import Backoff, Dead, Done, KindPolicy, RetryLater, State, Unknown
from offline_queue.transitions import Transition, after_outcome

NOW = 1000.0
POLICY = KindPolicy(backoff=Backoff(base=2, cap=60))


def step(
    outcome: object, *, attempts: int = 1, deadline: float | None = None, policy: KindPolicy = POLICY
) -> Transition:
    return after_outcome(outcome, attempts=attempts, now=NOW, deadline=deadline, policy=policy, rng=random.Random(3))  # type: ignore[arg-type]


def test_done_keeps_the_result() -> None:
    result = step(Done({"card_no": "C1"}))
    assert (result.state, result.result, result.event) == (State.DONE, {"card_no": "C1"}, "sent:done")


def test_dead_keeps_the_reason() -> None:
    result = step(Dead("CARD_NOT_EXIST"))
    assert (result.state, result.last_error) == (State.DEAD, "CARD_NOT_EXIST")


def test_retry_later_backs_off_within_the_jittered_window() -> None:
    result = step(RetryLater("20000 service busy"), attempts=3)
    assert result.state is State.PENDING
    assert result.next_attempt_at is not None and NOW <= result.next_attempt_at <= NOW + 8.0
    assert result.last_error == "20000 service busy"


def test_retry_later_after_overrides_the_backoff() -> None:
    assert step(RetryLater("busy", after=42.0)).next_attempt_at == NOW + 42.0


def test_unknown_outcome_is_retried_and_recorded_as_unknown() -> None:
    result = step(Unknown("timeout after sending"))
    assert result.state is State.PENDING and result.event == "sent:unknown"


def test_retry_past_the_deadline_dies_with_the_kind_reason() -> None:
    policy = KindPolicy(max_age=10, expired_reason="ask the customer to scan again", backoff=Backoff(base=100, cap=100))
    result = step(RetryLater("network down", after=50), deadline=NOW + 10, policy=policy)
    assert result.state is State.DEAD
    assert result.last_error is not None and result.last_error.startswith("ask the customer to scan again")


def test_max_attempts_turns_a_retry_into_a_dead_letter() -> None:
    result = step(RetryLater("busy"), attempts=5, policy=KindPolicy(max_attempts=5))
    assert result.state is State.DEAD and "gave up after 5 attempts" in (result.last_error or "")


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError):
        step("ok")
