"""The chain as headquarters sees it: the newest retained status of every till. Pure: the MQTT shell feeds it
(topic, payload) pairs; `posagent fleet status` and the relay's /metrics read it.

A status that is not one of ours (another chain, a malformed or oversized payload, a status naming another
till than its topic) is counted and dropped; an empty retained payload removes the till (a decommissioned
till's status is cleared that way). Tills that have a key at headquarters but never published a status are
listed too ("never seen"), since a till that never connected is the sickest of all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.fleet.messages import WORKING_DEVICE_STATES, FleetMessageError, TillStatus, decode_status, problems
from agent.fleet.topics import STATUS, TillRef, TopicError, parse

NEVER_SEEN = "never seen: no status from this till (not installed, or never connected)"


@dataclass(frozen=True)
class TillRow:
    till: TillRef
    status: TillStatus | None  # None: provisioned, never seen
    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass
class StoreFigures:
    tills: int = 0
    online: int = 0
    pending: int = 0
    dead: int = 0


@dataclass
class FleetSummary:
    online: int = 0
    offline: int = 0
    never_seen: int = 0
    device_problems: int = 0  # tills with at least one device not working
    stores: dict[str, StoreFigures] = field(default_factory=dict)

    @property
    def stores_online(self) -> int:
        """Stores with at least one till online."""
        return sum(1 for figures in self.stores.values() if figures.online)


class FleetView:
    def __init__(self, chain: str) -> None:
        self.chain = chain
        self._statuses: dict[TillRef, TillStatus] = {}
        self.rejected = 0  # statuses dropped as not ours or malformed

    def update(self, topic: str, payload: bytes) -> bool:
        """Take one status message; False when it was dropped."""
        try:
            till, kind = parse(topic)
        except TopicError:
            self.rejected += 1
            return False
        if kind != STATUS or till.chain != self.chain:
            self.rejected += 1
            return False
        if not payload:
            self._statuses.pop(till, None)
            return True
        try:
            self._statuses[till] = decode_status(till, payload)
        except FleetMessageError:
            self.rejected += 1
            return False
        return True

    def __len__(self) -> int:
        return len(self._statuses)

    def statuses(self) -> list[TillStatus]:
        return list(self._statuses.values())

    def rows(self, provisioned: Iterable[str] = ()) -> list[TillRow]:
        """Every till, sick first (offline first among them, then the most problems), then by store and till.

        `provisioned`: `<store>-<till>` names with a key at headquarters; those without a status are listed
        as never seen."""
        rows = [TillRow(s.till, s, tuple(problems(s))) for s in self._statuses.values()]
        seen = {s.till.name for s in self._statuses.values()}
        for name in provisioned:
            store, _, till = name.partition("-")
            if name in seen:
                continue
            try:
                ref = TillRef(self.chain, store, till)
            except TopicError:
                continue  # not a till's key file
            rows.append(TillRow(ref, None, (NEVER_SEEN,)))
        return sorted(rows, key=_sick_first)

    def summary(self, provisioned: Iterable[str] = ()) -> FleetSummary:
        out = FleetSummary()
        for row in self.rows(provisioned):
            figures = out.stores.setdefault(row.till.store, StoreFigures())
            figures.tills += 1
            status = row.status
            if status is None:
                out.never_seen += 1
                continue
            if status.online:
                out.online += 1
                figures.online += 1
            else:
                out.offline += 1
            figures.pending += status.outbox_pending
            figures.dead += status.outbox_dead
            if any(d.state not in WORKING_DEVICE_STATES for d in status.devices):
                out.device_problems += 1
        return out


def _sick_first(row: TillRow) -> tuple[bool, bool, int, str, str]:
    online = row.status is not None and row.status.online
    return (row.healthy, online, -len(row.problems), row.till.store, row.till.till)
