"""What a message on the till's callback topic becomes. Pure decisions; `deliver_callback` does the
member service's database writes (call it from a worker thread).

The broker hands a message over and keeps it until the till acknowledges it (QoS 1, manual ack). So:

- acknowledge once the card opening is committed to the outbox (`QUEUED`), or when it was already
  (`DUPLICATE`: a redelivery after a crash, absorbed by the outbox's idempotency), or when it can
  never be (`REFUSED`: not ours, malformed, refused by the member service) - then it is dropped;
- do NOT acknowledge on a transient failure (`RETRY`: outbox full, disk full, database locked):
  keep it in memory and try again with backoff; if the agent dies meanwhile, the broker redelivers.

A message never blocks the ones behind it: a refusal is final at once, and a retry waits aside.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from agent.fleet.messages import CallbackMessage, FleetMessageError, open_callback
from agent.members.open_card import CallbackError
from agent.members.service import AlreadyReceived, Callback
from agent.storage import is_storage_full
from offline_queue import Backoff, OutboxFull, OutboxTooLarge

# A message that fails for a reason nobody planned for (a bug) is tried this many times, then dropped
# with an error in the log: retrying it for ever would hold the broker's window for no gain.
MAX_UNEXPECTED_ATTEMPTS = 5
RETRY_BACKOFF = Backoff(base=1.0, factor=2.0, cap=60.0)


class Outcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    RETRY = "retry"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""  # for the log: never a secret (CallbackError texts never quote the auth_code)
    unexpected: bool = False  # RETRY for an error nobody planned for (bounded attempts)

    @property
    def final(self) -> bool:
        """Acknowledge the message now."""
        return self.outcome is not Outcome.RETRY


class CallbackTarget(Protocol):
    """The member service's callback path, the same the local callback endpoint and member.open use."""

    def parse_callback(self, params: Mapping[str, object]) -> Callback: ...

    def queue_callback(self, callback: Callback) -> object: ...

    def queue_exchanged_callback(self, callback: Callback, *, access_token: str, user_id: str,
                                 at: float) -> object: ...  # fmt: skip


def open_message(key: bytes, our_topic: str, topic: str, payload: bytes) -> CallbackMessage:
    """The callback a message carries; FleetMessageError (with its `reason`) for anything else."""
    if topic != our_topic:  # the till subscribes to its own topic only: a broker that routes others is wrong
        raise FleetMessageError("a message on a topic that is not this till's callback topic", "foreign_topic")
    return open_callback(key, topic, payload)


def transient(error: BaseException) -> bool:
    """Failures that pass by themselves: the outbox at its caps, a full disk, a locked or busy database."""
    return (isinstance(error, OutboxFull | OutboxTooLarge | sqlite3.OperationalError | OSError)
            or is_storage_full(error))  # fmt: skip


def deliver_callback(target: CallbackTarget | None, message: CallbackMessage, now: float) -> Verdict:
    """Queue the card opening a callback asks for (blocking: durable writes). Never raises."""
    if target is None:
        return Verdict(Outcome.REFUSED, "membership cards are not configured on this till ([members])")
    token = message.authorization
    if token is not None and token.obtained_at + token.expires_in <= now:
        return Verdict(Outcome.REFUSED, "the customer's authorisation from headquarters expired before it reached "
                                        "the till: the customer must scan again")  # fmt: skip
    try:
        callback = target.parse_callback(message.params)
        if token is None:
            target.queue_callback(callback)
        else:  # the relay's exchange mode: no oauth.token call at the till
            target.queue_exchanged_callback(callback, access_token=token.access_token, user_id=token.user_id,
                                            at=message.received_at)  # fmt: skip
    except AlreadyReceived as exc:
        return Verdict(Outcome.DUPLICATE, str(exc))
    except CallbackError as exc:
        return Verdict(Outcome.REFUSED, str(exc))
    except Exception as exc:
        # The type only: a database error's text could quote values.
        if transient(exc):
            return Verdict(Outcome.RETRY, f"not queued yet ({_what(exc)}); retrying")
        return Verdict(Outcome.RETRY, f"not queued ({type(exc).__name__})", unexpected=True)
    return Verdict(Outcome.QUEUED, "queued")


def _what(error: BaseException) -> str:
    if is_storage_full(error):
        return "disk full"
    if isinstance(error, OutboxFull | OutboxTooLarge):
        return str(error)  # counts and caps only
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        return "database locked"
    return type(error).__name__


# --- messages waiting for another attempt ---------------------------------------------------------

H = TypeVar("H")  # how to acknowledge a message (the shell's broker handle)


@dataclass
class Held(Generic[H]):
    message: CallbackMessage
    handle: H
    attempts: int
    due: float
    unexpected_attempts: int = 0


class Retries(Generic[H]):
    """Callbacks kept in memory after a transient failure, each with its own backoff. Keyed by the
    relay's message id, so a redelivered copy (after a reconnect) replaces the handle instead of
    being queued twice."""

    def __init__(self, backoff: Backoff = RETRY_BACKOFF, max_unexpected: int = MAX_UNEXPECTED_ATTEMPTS) -> None:
        self._held: dict[str, Held[H]] = {}
        self._backoff = backoff
        self._max_unexpected = max_unexpected

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._held

    def hold(self, message: CallbackMessage, handle: H, verdict: Verdict, now: float, rng: random.Random, *,
             previous: Held[H] | None = None) -> Held[H] | None:  # fmt: skip
        """Keep a message that got RETRY (`previous`: its entry, if this was a retry); None when it is
        given up (too many unexpected failures)."""
        held = self._held.pop(message.id, None) or previous
        attempts = (held.attempts if held else 0) + 1
        unexpected = (held.unexpected_attempts if held else 0) + (1 if verdict.unexpected else 0)
        if unexpected >= self._max_unexpected:
            return None
        entry = Held(message, handle, attempts, now + self._backoff.delay(attempts, rng), unexpected)
        self._held[message.id] = entry
        return entry

    def redelivered(self, message_id: str, handle: H) -> bool:
        """A copy of a held message arrived: acknowledge through its handle from now on (True if held)."""
        held = self._held.get(message_id)
        if held is None:
            return False
        held.handle = handle
        return True

    def take_due(self, now: float) -> list[Held[H]]:
        """The held messages whose time has come, oldest first (removed: `hold` them again on failure)."""
        due = sorted((h for h in self._held.values() if h.due <= now), key=lambda h: h.due)
        for held in due:
            del self._held[held.message.id]
        return due

    def next_due(self) -> float | None:
        return min((h.due for h in self._held.values()), default=None)
