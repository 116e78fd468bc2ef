"""Taking turns between job kinds (pure: no I/O, no clock).

A backlog of one kind (a burst of card openings) must not delay another (a points update, a
payment reversal). Each free slot goes to an essential kind with due work if there is one, else
to the kind with due work that was served least recently: with two kinds due they alternate,
however many jobs each has. Within a kind, jobs keep their order (due time, then enqueue order).
"""

from __future__ import annotations

from collections.abc import Collection


class TakingTurns:
    def __init__(self) -> None:
        self._served: dict[str, int] = {}
        self._tick = 0

    def next_kind(self, due: Collection[str], essential: Collection[str] = ()) -> str | None:
        """The kind to serve next among the kinds that have due jobs (None when there are none)."""
        pool = [kind for kind in due if kind in essential] or list(due)
        if not pool:
            return None
        return min(pool, key=lambda kind: (self._served.get(kind, -1), kind))

    def served(self, kind: str) -> None:
        self._tick += 1
        self._served[kind] = self._tick
