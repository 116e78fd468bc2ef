"""The technicians' status page and /metrics, served by the daemon (see docs/operations.md)."""

from .auth import Sessions
from .hosts import AllowedHosts
from .http import BadRequest, HttpServer, Limits, Request, Response
from .site import ActionRefused, Changes, StatusSite, StatusSource, status_server
from .snapshot import DeadJob, DeviceRow, FleetRow, LogRow, OriginRow, PrintRow, ScanRow, Snapshot

__all__ = [
    "ActionRefused", "AllowedHosts", "BadRequest", "Changes", "DeadJob", "DeviceRow", "FleetRow", "HttpServer",
    "Limits", "LogRow", "OriginRow", "PrintRow", "Request", "Response", "ScanRow", "Sessions", "Snapshot", "StatusSite",
    "StatusSource", "status_server",
]  # fmt: skip
