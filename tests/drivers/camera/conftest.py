from __future__ import annotations

import pytest
import zxingcpp

from tests.drivers.camera.zxing_spy import ReadSpy


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> ReadSpy:
    """Every zxing-cpp read the test makes, with its options."""
    spy = ReadSpy()
    monkeypatch.setattr(zxingcpp, "read_barcodes", spy)
    return spy
