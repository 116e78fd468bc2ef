"""Connection slots with fair shedding (pure: no sockets, the caller passes the time).

Each open connection holds a `Slot` keyed by its client (`clients.client_key`) and in a `Phase`:

    IDLE     between two requests of a keep-alive connection (clients reopen it at no cost)
    READING  a request (or the ECR's hello) not complete yet: slow clients sit here
    HELD     the answer to a wrong token, held back (`failures`): these have their own pool
    BUSY     being served: never shed

Rules, in this order, when a connection arrives:
1. A capped client (by default every client but loopback) with `max_per_client` connections (held
   ones included) is refused: one remote address (or IPv6 /64) cannot take the others' room.
   Local clients are not capped (they may all be one address, and a local ECR or technician must
   never be refused because another local process misbehaves): they are protected by rule 2.
2. With `max_open` connections open (held ones not counted), the greedy client gives one up: of the
   client with the most open connections, its oldest IDLE one, else its oldest READING one, is shed.
   Nothing sheddable (all BUSY): the newcomer is refused.
3. Held answers beyond `max_held` are released early, oldest first (answered now): a flood of wrong
   tokens never takes room from anybody else.

So any number of slow or idle connections costs a newcomer nothing but one of them being closed;
this holds on loopback too, where every local process is the same client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

from .clients import LOOPBACK

T = TypeVar("T")


class Phase(IntEnum):
    """Lower values are shed first."""

    IDLE = 0
    READING = 1
    HELD = 2
    BUSY = 3


@dataclass(eq=False)
class Slot(Generic[T]):
    key: str
    owner: T  # the shell's connection object, for it to close or release
    phase: Phase
    since: float  # when it entered this phase


@dataclass(frozen=True)
class Admission(Generic[T]):
    slot: Slot[T] | None  # None: refused
    shed: list[Slot[T]] = field(default_factory=list)  # connections the shell must close now


def remote(key: str) -> bool:
    return key != LOOPBACK


class SlotTable(Generic[T]):
    def __init__(self, *, max_open: int, max_per_client: int, max_held: int,
                 capped: Callable[[str], bool] = remote) -> None:  # fmt: skip
        self.max_open, self.max_per_client, self.max_held = max_open, max_per_client, max_held
        self.capped = capped  # which clients have a per-client cap (the others: shedding only)
        self._slots: set[Slot[T]] = set()
        self._per_client: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def open_count(self) -> int:
        return sum(1 for slot in self._slots if slot.phase is not Phase.HELD)

    @property
    def held_count(self) -> int:
        return sum(1 for slot in self._slots if slot.phase is Phase.HELD)

    def count(self, key: str) -> int:
        return self._per_client[key]

    def admit(self, key: str, owner: T, now: float) -> Admission[T]:
        if self.capped(key) and self._per_client[key] >= self.max_per_client:
            return Admission(None)
        shed: list[Slot[T]] = []
        if self.open_count >= self.max_open:
            victim = self._victim()
            if victim is None:
                return Admission(None)
            self.release(victim)
            shed.append(victim)
        slot = Slot(key, owner, Phase.READING, now)
        self._slots.add(slot)
        self._per_client[key] += 1
        return Admission(slot, shed)

    def enter(self, slot: Slot[T], phase: Phase, now: float) -> list[Slot[T]]:
        """Move a slot to `phase`; entering HELD returns the held slots to answer at once (now BUSY)."""
        if slot not in self._slots:
            return []
        slot.phase, slot.since = phase, now
        released: list[Slot[T]] = []
        if phase is Phase.HELD:
            held = sorted((s for s in self._slots if s.phase is Phase.HELD), key=lambda s: s.since)
            for oldest in held[: max(0, len(held) - self.max_held)]:
                oldest.phase, oldest.since = Phase.BUSY, now
                released.append(oldest)
        return released

    def release(self, slot: Slot[T]) -> None:
        """The connection is gone (or no longer counted, e.g. authenticated)."""
        if slot in self._slots:
            self._slots.remove(slot)
            self._per_client[slot.key] -= 1
            if not self._per_client[slot.key]:
                del self._per_client[slot.key]

    def _victim(self) -> Slot[T] | None:
        sheddable = [s for s in self._slots if s.phase in (Phase.IDLE, Phase.READING)]
        if not sheddable:
            return None
        open_by_client = Counter(s.key for s in self._slots if s.phase is not Phase.HELD)
        greediest = max(open_by_client[s.key] for s in sheddable)
        return min((s for s in sheddable if open_by_client[s.key] == greediest), key=lambda s: (s.phase, s.since))
