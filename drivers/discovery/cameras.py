"""Video4Linux cameras (/dev/video*) with their /dev/v4l/by-id paths and names from sysfs."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from drivers.discovery.records import DeviceRecord, stable_paths

BY_ID_DIR = "/dev/v4l/by-id"
SYSFS_DIR = "/sys/class/video4linux"


def find_cameras(
    dev_glob: str = "/dev/video*", by_id_dir: str = BY_ID_DIR, sysfs_dir: str = SYSFS_DIR
) -> list[DeviceRecord]:
    stable = stable_paths(by_id_dir)
    records = []
    for path in sorted(glob.glob(dev_glob), key=_natural):
        node = os.path.basename(path)
        name = _read(Path(sysfs_dir, node, "name")) or node
        # Each USB camera shows up as several nodes; index 0 is the one that captures.
        details = {"index": _read(Path(sysfs_dir, node, "index")) or ""}
        records.append(DeviceRecord("camera", path, stable.get(os.path.realpath(path)), name, details))
    return records


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _natural(path: str) -> tuple[str, int]:
    stem = path.rstrip("0123456789")
    digits = path[len(stem) :]
    return (stem, int(digits) if digits else -1)
