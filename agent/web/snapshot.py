"""What the status page shows, as plain values: the daemon fills it, `pages` renders it.

Nothing here may hold a secret: scans are masked before they get here, errors come from the
masked log, outbox jobs carry no payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceRow:
    device: str
    kind: str
    state: str
    detail: str
    working: bool = False  # does its job in this state (the daemon knows which states those are)


@dataclass(frozen=True)
class DeadJob:
    id: int
    kind: str
    attempts: int
    last_error: str
    updated_at: float


@dataclass(frozen=True)
class ScanRow:
    at: float
    code_class: str
    masked: str
    device: str


@dataclass(frozen=True)
class PrintRow:
    job_id: str
    kind: str
    state: str
    reason: str
    has_preview: bool


@dataclass(frozen=True)
class LogRow:
    at: float
    level: str
    logger: str
    message: str


@dataclass(frozen=True)
class FleetRow:
    """The chain's fleet link (when configured): its state and what it last did."""

    state: str  # connected, connecting, disconnected
    since: float
    broker: str
    subscribed: bool
    last_delivery: float | None
    last_error: str
    received: int
    dropped: int
    retrying: int


@dataclass(frozen=True)
class OriginRow:
    """A web POS origin paired for the ECR WebSocket (never its token)."""

    origin: str
    paired_at: float
    last_used: float | None
    live: int  # open WebSocket connections from it now
    pending_code: bool = False  # a pairing code waits for it (the code itself is never shown here)


@dataclass(frozen=True)
class Snapshot:
    version: str
    uptime_seconds: float
    store: str
    online: bool
    online_since: float
    gateway: str
    ecr_connections: int
    printer_configured: bool
    devices: list[DeviceRow] = field(default_factory=list)
    outbox_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    oldest_pending_age: float | None = None
    outbox_error: str = ""  # the database could not be read: shown instead of the counts
    dead_jobs: list[DeadJob] = field(default_factory=list)
    scans: list[ScanRow] = field(default_factory=list)
    prints: list[PrintRow] = field(default_factory=list)
    errors: list[LogRow] = field(default_factory=list)
    taken_at: float = 0.0
    fleet: FleetRow | None = None
    origins: list[OriginRow] | None = None  # None: the ECR WebSocket is off
