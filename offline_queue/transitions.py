"""What a handler's outcome does to a job (pure: clock and RNG come in as arguments)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from offline_queue.model import Dead, Done, KindPolicy, Outcome, RetryLater, State, Unknown


@dataclass(frozen=True, slots=True)
class Transition:
    state: State
    next_attempt_at: float | None
    last_error: str | None
    result: Any
    event: str  # the history entry, e.g. "sent:retry"


def after_outcome(
    outcome: Outcome,
    *,
    attempts: int,
    now: float,
    deadline: float | None,
    policy: KindPolicy,
    rng: random.Random,
) -> Transition:
    """The job's next state after attempt number `attempts` (>= 1) ended with `outcome`."""
    match outcome:
        case Done(result):
            return Transition(State.DONE, None, None, result, "sent:done")
        case Dead(reason):
            return Transition(State.DEAD, None, reason, None, "sent:dead")
        case RetryLater(reason, after):
            delay = policy.backoff.delay(attempts, rng) if after is None else max(0.0, after)
            return _retry(reason, "sent:retry", at=now + delay, attempts=attempts, deadline=deadline, policy=policy)
        case Unknown(reason):
            # Same key, same payload: the remote side absorbs the duplicate if the first one landed.
            delay = policy.backoff.delay(attempts, rng)
            return _retry(reason, "sent:unknown", at=now + delay, attempts=attempts, deadline=deadline, policy=policy)
    raise TypeError(f"a handler must return Done, RetryLater, Dead or Unknown, not {outcome!r}")


def _retry(
    reason: str, event: str, *, at: float, attempts: int, deadline: float | None, policy: KindPolicy
) -> Transition:
    if policy.max_attempts is not None and attempts >= policy.max_attempts:
        return Transition(State.DEAD, None, f"gave up after {attempts} attempts: {reason}", None, event)
    if deadline is not None and at >= deadline:
        return Transition(State.DEAD, None, f"{policy.expired_reason} (last error: {reason})", None, event)
    return Transition(State.PENDING, at, reason, None, event)
