"""The outbox's vocabulary: job states, jobs, handler outcomes, per-kind policies and caps."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from offline_queue.backoff import Backoff


class State(enum.StrEnum):
    PENDING = "pending"  # waiting to be sent (due now, backing off, or queued behind its ordering key)
    IN_FLIGHT = "in_flight"  # handed to a handler; back to pending if the process dies
    DONE = "done"
    DEAD = "dead"  # gave up: kept with its reason until retried or purged
    SUPERSEDED = "superseded"  # absolute-valued update made obsolete by a newer one: never sent


ACTIVE_STATES = (State.PENDING, State.IN_FLIGHT)
FINAL_STATES = (State.DONE, State.DEAD, State.SUPERSEDED)


# ---- handler outcomes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """The call had its effect. `result` (JSON-able) is kept with the job."""

    result: Any = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Definitely not applied (e.g. network down before sending): try again later.

    `after` (seconds) overrides the backoff, e.g. for a server's Retry-After.
    """

    reason: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Dead:
    """Definite failure that retrying cannot fix: keep as a dead letter with `reason`."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """The call may or may not have been applied (timeout after sending): re-send with the same key."""

    reason: str


Outcome = Done | RetryLater | Dead | Unknown


# ---- policies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindPolicy:
    """How one job kind is treated.

    absolute:      the payload carries absolute values (points = 120), so per ordering key only
                   the newest business_time matters: older pending ones are superseded, older
                   arrivals are absorbed as stale (see `offline_queue.coalesce`).
    max_age:       seconds after enqueue when the job can no longer succeed (e.g. an auth_code's
                   validity); it then dies with `expired_reason`.
    max_attempts:  give up (dead) after this many attempts; None retries until max_age.
    essential:     work that must never be refused nor wait behind other kinds (payment reversals):
                   the caps do not apply to it, the dispatcher sends it before any other kind, and
                   its dead jobs are kept until a person purges them.
    """

    absolute: bool = False
    max_age: float | None = None
    expired_reason: str = "expired before it could be sent"
    max_attempts: int | None = None
    backoff: Backoff = field(default_factory=Backoff)
    essential: bool = False


DEFAULT_POLICY = KindPolicy()


@dataclass(frozen=True, slots=True)
class Caps:
    """Hard limits: hitting one makes `enqueue` raise, never drop silently.

    Essential kinds are exempt (a payment reversal is never refused); they still count, so other
    kinds hit the cap first. `max_db_bytes` counts the pages in use (freed pages are reused).
    """

    max_pending: int | None = 100_000
    max_db_bytes: int | None = 512 * 1024 * 1024


# ---- jobs and what the outbox reports ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of must-not-lose work, as stored.

    `payload` holds decrypted values for a claimed job; for listings, sensitive fields are
    replaced by "<sensitive>". It is left out of repr so secrets do not leak into logs.
    """

    id: int
    kind: str
    idempotency_key: str
    ordering_key: str | None
    business_time: float | None
    state: State
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float | None  # None: queued behind an earlier job with the same ordering key
    deadline: float | None
    last_error: str | None
    result: Any = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    sensitive: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One entry of a job's history."""

    at: float
    event: str  # "sent:done", "sent:retry", "sent:unknown", "sent:dead", "interrupted", "expired", ...
    detail: str | None


@dataclass(frozen=True, slots=True)
class JobEvent:
    """Published to subscribers after the change is committed."""

    job_id: int
    kind: str
    idempotency_key: str
    state: State
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    counts: dict[str, dict[str, int]]  # kind -> state -> count
    oldest_pending_age: float | None  # seconds; None when nothing is pending
    db_bytes: int
    # kind -> seconds since its oldest pending or in-flight job was enqueued; kinds with none are absent
    oldest_pending_age_by_kind: dict[str, float] = field(default_factory=dict)

    def total(self, state: State) -> int:
        return sum(per_state.get(state.value, 0) for per_state in self.counts.values())

    @property
    def backlog(self) -> int:
        return self.total(State.PENDING) + self.total(State.IN_FLIGHT)
