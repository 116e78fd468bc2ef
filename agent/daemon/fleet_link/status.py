"""The till's retained status for headquarters' fleet view, and when to republish it. Pure.

Published on connect, on a change (devices, outbox counts, Alipay reachable or not, a new warning)
at most every `status_interval_seconds`, and every HEARTBEAT_SECONDS regardless (so a fleet view
can tell a quiet till from a stale status). Its last will, and the status on a graceful stop, say
offline with the reason. Nothing secret goes in: device names as the status page shows them
(passwords masked), the last warning masked as the logs are, no payment code, no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from agent.daemon.logs import mask_secrets
from agent.fleet.messages import MAX_DEVICES, MAX_TEXT_CHARS, DeviceState, TillStatus
from agent.fleet.topics import TillRef
from drivers.addresses import display_address

HEARTBEAT_SECONDS = 60.0
STOPPED = "stopped"
CONNECTION_LOST = "connection lost"
_BACKLOG_STATES = ("pending", "in_flight")


def till_status(till: TillRef, agent_status: Mapping[str, Any], *, version: str, at: float,
                last_error: str | None) -> TillStatus:  # fmt: skip
    """The status message from the agent's own status (the one status.get answers)."""
    outbox = agent_status.get("outbox") or {}
    counts: Mapping[str, Mapping[str, int]] = outbox.get("counts") or {}
    pending = sum(per_state.get(state, 0) for per_state in counts.values() for state in _BACKLOG_STATES)
    dead = sum(per_state.get("dead", 0) for per_state in counts.values())
    network = agent_status.get("network") or {}
    online = network.get("online")
    devices = tuple(DeviceState(_text(display_address(str(d.get("device", "")))), _text(str(d.get("kind", ""))),
                                _text(str(d.get("state", ""))))
                    for d in (agent_status.get("devices") or [])[:MAX_DEVICES])  # fmt: skip
    age = outbox.get("oldest_pending_age")
    return TillStatus(
        till=till, online=True, at=at, version=version, alipay_online=online if isinstance(online, bool) else None,
        outbox_pending=pending, outbox_dead=dead, oldest_pending_age=round(age, 1) if age is not None else None,
        devices=devices, last_error=_text(mask_secrets(last_error)) if last_error else None,
    )  # fmt: skip


def offline(status: TillStatus | None, till: TillRef, *, reason: str, at: float) -> TillStatus:
    """The status saying the till is offline (its last will, or a graceful stop), keeping what was last known."""
    if status is None:
        return TillStatus(till=till, online=False, at=at, reason=reason)
    return replace(status, online=False, at=at, reason=reason)


def change_key(status: TillStatus) -> tuple[object, ...]:
    """What counts as a change worth publishing: not the time, not the backlog's age (the heartbeat carries it)."""
    return (status.online, status.reason, status.version, status.alipay_online, status.outbox_pending,
            status.outbox_dead, status.devices, status.last_error)  # fmt: skip


def _text(value: str) -> str:
    return value[:MAX_TEXT_CHARS]


@dataclass
class StatusSchedule:
    """When the next status goes out: at once on connect, a change no sooner than `min_interval` after
    the last publication, the same status again after `heartbeat`."""

    min_interval: float
    heartbeat: float = HEARTBEAT_SECONDS
    _last_key: tuple[object, ...] | None = None
    _last_at: float | None = None

    def reset(self) -> None:
        """A new connection: publish at once."""
        self._last_key = self._last_at = None

    def changed(self, key: tuple[object, ...]) -> bool:
        return key != self._last_key

    def wait(self, key: tuple[object, ...], now: float) -> float:
        """Seconds until a status with this key should be published (0: now)."""
        if self._last_at is None:
            return 0.0
        interval = self.min_interval if self.changed(key) else self.heartbeat
        return max(0.0, self._last_at + interval - now)

    def published(self, key: tuple[object, ...], now: float) -> None:
        self._last_key, self._last_at = key, now
