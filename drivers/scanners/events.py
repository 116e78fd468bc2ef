"""What every scanner (serial, HID, camera) reports: codes, status changes, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SourceKind(StrEnum):
    SERIAL = "serial"
    HID = "hid"
    CAMERA = "camera"


class DeviceState(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ERROR = "error"  # still retrying, but something needs a technician (e.g. permissions)
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """One code read. `code` may be a payment code (a secret): it is left out of repr()."""

    code: str = field(repr=False)
    device: str  # the stable path it was configured with, e.g. /dev/serial/by-id/...
    source: SourceKind
    timestamp: float  # time.time() when the code was complete
    symbology: str | None = None  # from the AIM identifier or the decoder, when known
    aim_id: str | None = None  # the raw `]Xn` identifier, when the scanner sent one


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device: str
    source: SourceKind
    state: DeviceState
    detail: str = ""  # never contains scanned data


@dataclass(frozen=True, slots=True)
class DeviceWarning:
    """Input rejected (garbage, over-long, unmapped keys...). Says why, never what was read."""

    device: str
    source: SourceKind
    reason: str
    timestamp: float


ScannerEvent = ScanEvent | DeviceStatus | DeviceWarning
