"""What a finder reports: one small record per device, the same shape for every kind."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    kind: str  # "serial", "input", "camera" (printers add "usb-printer")
    path: str  # the kernel path, e.g. /dev/ttyACM0 (may change across replugs)
    stable_path: str | None  # what to put in the config, e.g. /dev/serial/by-id/usb-...
    name: str  # human description from the device
    details: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    devices: list[DeviceRecord]
    errors: dict[str, str]  # finder name -> why it failed (the other finders still ran)

    def to_json(self) -> dict[str, Any]:
        return {"devices": [d.to_json() for d in self.devices], "errors": self.errors}


def stable_paths(by_id_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Map resolved device paths to their stable symlinks in a by-id directory (empty if none)."""
    directory = Path(by_id_dir)
    if not directory.is_dir():
        return {}
    links: dict[str, str] = {}
    for link in sorted(directory.iterdir()):
        if link.is_symlink():
            links.setdefault(os.path.realpath(link), str(link))
    return links
