"""Report a code once while it stays in view (sans-I/O: time is passed in).

A phone held under the camera shows the same code in every frame; the till wants it once. A code
is reported again when it has left the view (not seen for `gone_after` seconds: decoders miss
the odd frame, so one empty frame is not "gone") or when `repeat_after` seconds have passed
since it was last reported (the cashier really does want it scanned again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class _Seen:
    reported_at: float
    last_seen: float


class Deduplicator:
    def __init__(self, *, gone_after: float = 0.5, repeat_after: float = 5.0) -> None:
        self.gone_after = gone_after
        self.repeat_after = repeat_after
        self._seen: dict[str, _Seen] = {}

    def observe(self, codes: Iterable[str], now: float) -> list[str]:
        """Codes in the current frame -> the ones to report now (in frame order, no duplicates)."""
        self._forget_gone(now)
        fresh: list[str] = []
        for code in dict.fromkeys(codes):  # one frame may hold the same code twice
            seen = self._seen.get(code)
            if seen is None or now - seen.reported_at >= self.repeat_after:
                self._seen[code] = _Seen(reported_at=now, last_seen=now)
                fresh.append(code)
            else:
                seen.last_seen = now
        return fresh

    def _forget_gone(self, now: float) -> None:
        gone = [code for code, seen in self._seen.items() if now - seen.last_seen > self.gone_after]
        for code in gone:
            del self._seen[code]
