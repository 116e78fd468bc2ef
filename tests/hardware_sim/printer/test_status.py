"""Status bytes: what a real printer answers to DLE EOT, GS r and automatic status back, per state."""

from __future__ import annotations

import pytest
from escpos.constants import RT_MASK_LOWPAPER, RT_MASK_NOPAPER, RT_MASK_ONLINE

from hardware_sim.printer.status import PrinterState, auto_status_block, realtime_status, transmit_status

IDLE = PrinterState()


def test_an_idle_printer_answers_the_documented_idle_bytes() -> None:
    assert [realtime_status(IDLE, n) for n in (1, 2, 3, 4)] == [b"\x12"] * 4
    assert transmit_status(IDLE, 1) == b"\x00"
    assert transmit_status(IDLE, 2) == b"\x00"
    assert auto_status_block(IDLE) == b"\x10\x00\x00\x00"


@pytest.mark.parametrize(
    ("state", "n", "expected"),
    [
        (PrinterState(drawer_high=True), 1, 0x16),
        (PrinterState(offline=True), 1, 0x1A),
        (PrinterState(cover_open=True), 1, 0x1A),  # an open cover takes the printer offline
        (PrinterState(paper="end"), 1, 0x1A),
        (PrinterState(cover_open=True), 2, 0x16),
        (PrinterState(paper="end"), 2, 0x32),
        (PrinterState(autocutter_error=True), 2, 0x52),
        (PrinterState(autocutter_error=True), 3, 0x1A),
        (PrinterState(unrecoverable_error=True), 3, 0x32),
        (PrinterState(auto_recoverable_error=True), 3, 0x52),
        (PrinterState(recoverable_error=True), 3, 0x16),
        (PrinterState(paper="near_end"), 4, 0x1E),
        (PrinterState(paper="end"), 4, 0x7E),
    ],
)
def test_dle_eot_bits_follow_the_reference_tables(state: PrinterState, n: int, expected: int) -> None:
    reply = realtime_status(state, n)
    assert reply == bytes([expected])
    assert reply[0] & 0x93 == 0x12  # fixed pattern 0xx1xx10


def test_python_escpos_reads_the_paper_and_online_states_right() -> None:
    # The client library's own masks, as the driver will apply them.
    assert realtime_status(PrinterState(paper="end"), 4)[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER
    near = realtime_status(PrinterState(paper="near_end"), 4)[0]
    assert near & RT_MASK_NOPAPER != RT_MASK_NOPAPER
    assert near & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER
    assert not realtime_status(IDLE, 1)[0] & RT_MASK_ONLINE
    assert realtime_status(PrinterState(offline=True), 1)[0] & RT_MASK_ONLINE


def test_gs_r_reports_paper_sensor_and_drawer() -> None:
    assert transmit_status(PrinterState(paper="near_end"), 1) == b"\x03"
    assert transmit_status(PrinterState(paper="end"), 1) == b"\x0f"
    assert transmit_status(PrinterState(drawer_high=True), 2) == b"\x01"
    assert transmit_status(IDLE, 7) == b""


def test_auto_status_block_reports_cover_offline_errors_and_paper() -> None:
    state = PrinterState(cover_open=True, paper="near_end", autocutter_error=True)
    first, second, third, fourth = auto_status_block(state)
    assert first == 0x10 | 0x08 | 0x20
    assert second == 0x08
    assert third == 0x03
    assert fourth == 0x00


def test_printing_is_possible_only_when_nothing_stops_it() -> None:
    assert IDLE.can_print
    assert PrinterState(paper="near_end").can_print
    for stopped in (
        PrinterState(paper="end"),
        PrinterState(cover_open=True),
        PrinterState(offline=True),
        PrinterState(unrecoverable_error=True),
    ):
        assert not stopped.can_print


def test_an_invalid_request_number_is_an_error_not_a_made_up_byte() -> None:
    with pytest.raises(ValueError, match="1-4"):
        realtime_status(IDLE, 5)
