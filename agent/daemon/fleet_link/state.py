"""The fleet link's state, as the status page, status.get and /metrics show it. Pure: the shell
reports events (on the event loop), and readers take a copy."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.daemon.logs import mask_secrets

from .delivery import Outcome

DROP_REASONS = ("oversized", "unsealed", "unopened", "malformed", "foreign_topic", "refused", "failed")


class LinkPhase(StrEnum):
    CONNECTING = "connecting"  # first attempt under way (or again after a drop, until it succeeds or fails)
    CONNECTED = "connected"  # session up and the callback topic subscribed
    DISCONNECTED = "disconnected"  # lost or refused: retrying with backoff (`last_error` says why)


@dataclass
class LinkState:
    broker: str
    client_id: str
    topic: str
    phase: LinkPhase = LinkPhase.CONNECTING
    since: float = 0.0
    connected_once: bool = False
    subscribed: bool = False
    session_present: bool | None = None  # the broker still had our session (and any queued callbacks)
    last_error: str | None = None
    last_delivery: float | None = None  # when a callback was last queued (or found queued already)
    received: int = 0
    acked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # queued, duplicate (acked), dropped
    dropped: Counter[str] = field(default_factory=Counter)  # by reason
    retrying: int = 0  # held in memory after a transient failure

    def connecting(self, now: float) -> None:
        if self.phase is not LinkPhase.DISCONNECTED:  # keep "disconnected: why" visible while retrying
            self._enter(LinkPhase.CONNECTING, now)

    def connected(self, now: float, *, session_present: bool) -> None:
        self._enter(LinkPhase.CONNECTED, now)
        self.connected_once = True
        self.session_present = session_present
        self.subscribed = False
        self.last_error = None

    def subscription(self, granted: bool, detail: str) -> None:
        self.subscribed = granted
        if not granted:
            self.last_error = f"the broker refused the subscription to {self.topic} ({detail})"

    def disconnected(self, now: float, reason: str) -> None:
        self._enter(LinkPhase.DISCONNECTED, now)
        self.subscribed = False
        self.last_error = mask_secrets(reason)

    def _enter(self, phase: LinkPhase, now: float) -> None:
        if phase is not self.phase:
            self.phase, self.since = phase, now

    def delivered(self, outcome: Outcome, now: float, *, acked: bool) -> None:
        """A callback is in the outbox: queued now, or found there already (a redelivery)."""
        self.outcomes[outcome.value] += 1
        self.last_delivery = now
        self.acked += acked

    def drop(self, reason: str, *, acked: bool) -> None:
        """A message that will never be queued (one of DROP_REASONS), acknowledged so the broker forgets it."""
        self.outcomes["dropped"] += 1
        self.dropped[reason] += 1
        self.acked += acked

    def view(self) -> dict[str, Any]:
        """For status.get and the status page."""
        return {"state": self.phase.value, "since": self.since, "broker": self.broker, "client_id": self.client_id,
                "subscribed": self.subscribed, "session_present": self.session_present,
                "last_delivery": self.last_delivery, "last_error": self.last_error, "received": self.received,
                "acked": self.acked, "dropped": dict(self.dropped), "retrying": self.retrying}  # fmt: skip
