"""Token buckets (pure: the caller passes the time).

`take` paces work (a call may wait its turn); `try_take` sheds it (refused now, nothing reserved).
"""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, *, burst: float | None = None, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self.burst
        self._stamp = now

    def tokens(self, now: float) -> float:
        """Tokens available at `now` (negative while reservations are being paid back)."""
        self._refill(now)
        return self._tokens

    def take(self, now: float) -> float:
        """Take one token; return how long to wait before using it (0 when allowed now)."""
        self._refill(now)
        self._tokens -= 1.0
        # A negative balance is a reservation: the wait is when it will be paid back.
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def try_take(self, now: float) -> bool:
        """Take one token if one is available now; otherwise take nothing and return False."""
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def full(self, now: float) -> bool:
        """True when the bucket has refilled completely (it then remembers nothing worth keeping)."""
        return self.tokens(now) >= self.burst

    def _refill(self, now: float) -> None:
        # A clock that steps back (NTP) must not mint tokens: only elapsed time counts.
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = max(self._stamp, now)
