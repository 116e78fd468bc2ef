"""A token bucket for calls per second (pure: the caller passes the time)."""

from __future__ import annotations


class TokenBucket:
    """`rate` calls per second on average, bursts of up to `burst` calls."""

    def __init__(self, rate: float, *, burst: float | None = None, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self.burst
        self._stamp = now

    def take(self, now: float) -> float:
        """Take one token; return how long to wait before using it (0 when allowed now)."""
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        # A negative balance is a reservation: the wait is when it will be paid back.
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
