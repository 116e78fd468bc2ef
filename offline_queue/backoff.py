"""Retry delays: exponential backoff with full jitter and a cap (pure: RNG in, no clock inside).

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay before attempt
n+1 is uniform in [0, min(cap, base * factor**(n-1))]. Spreading retries over the whole window
keeps a crowd of stores that lost their line at the same moment from hammering the API in step
when it comes back.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= self.base and self.factor >= 1):
            raise ValueError("backoff needs 0 < base <= cap and factor >= 1")

    def ceiling(self, attempts: int) -> float:
        """The upper bound of the delay after `attempts` failed attempts (>= 1)."""
        if attempts < 1:
            raise ValueError("attempts counts failed attempts and starts at 1")
        exponent = attempts - 1
        # Compare in log space so a huge attempt count never overflows a float.
        if self.factor > 1 and exponent * math.log(self.factor) >= math.log(self.cap / self.base):
            return self.cap
        return min(self.cap, self.base * self.factor**exponent)

    def delay(self, attempts: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling(attempts))
