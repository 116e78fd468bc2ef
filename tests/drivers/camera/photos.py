"""The zxing QR photo set (real photos and scans) with expected texts."""

from __future__ import annotations

from pathlib import Path

from tests.support.shared_data import shared_data

PHOTO_DIR = shared_data() / "qr-photos"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif"}


def expected_text(image: Path) -> str:
    """Expected text: UTF-8 bytes, except a few files in Shift_JIS."""
    raw = image.with_suffix(".txt").read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("shift_jis")


def photos() -> list[Path]:
    return sorted(p for p in PHOTO_DIR.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)


def same_text(decoded: str, expected: str) -> bool:
    """Equal, or equal but for trailing whitespace on lines (some encoders pad with spaces)."""
    if decoded == expected:
        return True

    def norm(text: str) -> list[str]:
        return [line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n")]

    return norm(decoded) == norm(expected)
