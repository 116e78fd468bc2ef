"""Shared helpers of the outbox tests."""

from __future__ import annotations

from offline_queue import KindPolicy


class FakeClock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


POLICIES = {
    "card.update": KindPolicy(absolute=True),
    "card.open": KindPolicy(max_age=300.0, expired_reason="auth code expired: ask the customer to scan again"),
}
