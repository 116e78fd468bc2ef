"""Printer profiles: paper width in dots, validated settings, the drawer pulse bytes."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.printer.profile import PrinterProfile, drawer_pulse


def test_paper_widths_in_dots_and_columns() -> None:
    assert (PrinterProfile(paper_mm=58).width_dots, PrinterProfile(paper_mm=58).chars_per_line) == (384, 32)
    assert (PrinterProfile(paper_mm=80).width_dots, PrinterProfile(paper_mm=80).chars_per_line) == (576, 48)


@pytest.mark.parametrize(
    "changes",
    [{"paper_mm": 76}, {"qr_module_dots": 0}, {"qr_module_dots": 17}, {"qr_error_level": "X"},
     {"drawer_pin": 3}, {"drawer_on_ms": 1}, {"drawer_off_ms": 600}],
)  # fmt: skip
def test_invalid_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PrinterProfile(**changes)


def test_drawer_pulse_matches_python_escpos_for_its_defaults() -> None:
    # python-escpos cashdraw(2) / cashdraw(5) send ESC p 0|1 0x32 0x32 (100 ms on, 100 ms off).
    assert drawer_pulse(PrinterProfile()) == b"\x1bp\x00\x32\x32"
    assert drawer_pulse(PrinterProfile(drawer_pin=5)) == b"\x1bp\x01\x32\x32"


def test_drawer_pulse_timing_counts_two_millisecond_units() -> None:
    assert drawer_pulse(PrinterProfile(drawer_on_ms=200, drawer_off_ms=500)) == b"\x1bp\x00\x64\xfa"
