"""Warnings a flood must not turn into a flood of the journal: at most a few per second; the ones not
logged are counted and said with the next one logged, or by `flush()` once the flood is over.

Used wherever strangers can make the agent or the relay refuse things at will: the open-card callback
endpoint, the relay, the fleet link's dropped messages. No daemon dependency (the relay uses it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from offline_queue.ratelimit import TokenBucket

PER_SECOND = 1.0
BURST = 5


class ThrottledLog:
    def __init__(self, logger: logging.Logger, clock: Callable[[], float], what: str = "warnings") -> None:
        """`what` names the kind in the count line, e.g. "callbacks refused"."""
        self._logger = logger
        self._clock = clock
        self._what = what
        self._bucket = TokenBucket(PER_SECOND, burst=BURST, now=clock())
        self._unlogged = 0

    def warning(self, message: str, *args: object) -> None:
        if not self._bucket.try_take(self._clock()):
            self._unlogged += 1
            return
        self.flush()
        self._logger.warning(message, *args)

    def flush(self) -> None:
        """Say how many were not logged since the last line, if any."""
        if self._unlogged:
            self._logger.warning("%d more %s, not logged one by one", self._unlogged, self._what)
            self._unlogged = 0
