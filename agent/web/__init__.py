"""The technicians' status page and /metrics, served by the daemon (see docs/operations.md)."""

from .auth import Sessions
from .http import HttpServer, Request, Response
from .site import ActionRefused, Changes, StatusSite, StatusSource
from .snapshot import DeadJob, DeviceRow, LogRow, PrintRow, ScanRow, Snapshot

__all__ = [
    "ActionRefused", "Changes", "DeadJob", "DeviceRow", "HttpServer", "LogRow", "PrintRow", "Request", "Response",
    "ScanRow", "Sessions", "Snapshot", "StatusSite", "StatusSource",
]  # fmt: skip
