"""Shared helpers for the printer simulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shared_data import shared_data

# The real ESC/POS streams (escpos-php integration outputs) live beside the repository.
ESCPOS_DIR = shared_data() / "escpos"


def escpos_streams() -> list[Path]:
    return sorted(ESCPOS_DIR.glob("*.bin"))


@pytest.fixture
def escpos_dir() -> Path:
    assert ESCPOS_DIR.is_dir(), f"shared test data missing: {ESCPOS_DIR}"
    return ESCPOS_DIR
