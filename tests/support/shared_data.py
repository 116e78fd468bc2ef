"""Where the real test data lives: ../shared/data beside the checkout (as CI lays it out), or
$POSAGENT_SHARED_DATA. Missing data is a loud error, never a silently empty test."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    override = os.environ.get("POSAGENT_SHARED_DATA")
    path = Path(override) if override else REPO.parent / "shared" / "data"
    if not (path / "qr-photos").is_dir() or not (path / "escpos").is_dir():
        raise FileNotFoundError(
            f"test data not found at {path}: clone next to shared/ or set POSAGENT_SHARED_DATA to shared/data"
        )
    return path
