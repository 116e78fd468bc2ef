"""How long to hold back the answer to a wrong token (pure: the caller passes the time).

Only failures count, and only answers to wrong tokens wait: the right token is checked first and
always answered at once, so a flood of wrong ones can slow guessing but never lock anybody out.

A client's first `free` failures within `window` seconds are answered at once (typing mistakes);
after that each answer waits twice as long as the one before, from `first_delay` up to `max_delay`.
Failures from every client together count as well (many addresses guessing together), more
leniently: the delay grows once per `global_step` failures beyond `global_free`.

Memory stays bounded: a client keeps at most its last `max_recent` failure times, at most
`max_clients` clients are remembered (the stalest forgotten first), and the global count keeps at
most `max_recent_global` times.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

LOG_EVERY = 1000  # past a client's remembered failures, one log line per this many failures in all


@dataclass(frozen=True)
class Failure:
    delay: float  # seconds to hold the answer back
    count: int  # this client's failures within the window, this one included (at most max_recent)
    worth_logging: bool  # the 1st, 2nd, 4th, 8th... of a burst: a flood cannot flood the journal


class FailureThrottle:
    def __init__(self, *, free: int = 3, first_delay: float = 1.0, max_delay: float = 30.0, window: float = 300.0,
                 global_free: int = 30, global_step: int = 10, max_clients: int = 1024, max_recent: int = 64,
                 max_recent_global: int = 4096) -> None:  # fmt: skip
        self.free, self.first_delay, self.max_delay, self.window = free, first_delay, max_delay, window
        self.global_free, self.global_step = global_free, global_step
        self.max_clients, self.max_recent = max_clients, max_recent
        self._clients: dict[str, deque[float]] = {}
        self._everyone: deque[float] = deque(maxlen=max_recent_global)
        self.total = 0  # failures since the start, all clients

    def failed(self, client: str, now: float) -> Failure:
        """Record one wrong token from `client`; how long its answer waits."""
        recent = self._clients.pop(client, None) or deque(maxlen=self.max_recent)
        self._forget(recent, now)
        recent.append(now)
        self._clients[client] = recent  # re-inserted: the dict's order is least recently failed first
        self._forget(self._everyone, now)
        self._everyone.append(now)
        self.total += 1
        if len(self._clients) > self.max_clients:
            self._prune(now)
        mine = self._delay(len(recent) - self.free)
        everyone = self._delay(math.ceil((len(self._everyone) - self.global_free) / self.global_step))
        count = len(recent)
        loggable = (count < self.max_recent and count & (count - 1) == 0) or self.total % LOG_EVERY == 0
        return Failure(max(mine, everyone), count, loggable)

    def _delay(self, excess: int) -> float:
        if excess <= 0:
            return 0.0
        return min(self.max_delay, self.first_delay * 2.0 ** min(excess - 1, 32))

    def _forget(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def _prune(self, now: float) -> None:
        for client in [c for c, times in self._clients.items() if not times or times[-1] <= now - self.window]:
            del self._clients[client]
        while len(self._clients) > self.max_clients:
            del self._clients[next(iter(self._clients))]
