"""Pure printer state and the exact status bytes a real ESC/POS printer sends for it.

Bit layouts follow the Epson tables (see shared reference escpos.md):

- DLE EOT 1-4 answer one byte with the fixed pattern 0xx1xx10 (0x12 when nothing is set);
- GS r 1/2 answer one byte with the pattern 0xx0xxxx;
- automatic status back (GS a) sends a 4-byte block: 0xx1xx00, 0xx0xx00, 0xx0xx00, 0xx0xxxx.

When the paper has run out, both the near-end and the end sensors see no paper, as on a real
roll printer, so the paper bytes carry both (DLE EOT 4 = 0x7E, GS r 1 = 0x0F).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Paper = Literal["ok", "near_end", "end"]
PAPER_STATES: tuple[Paper, ...] = ("ok", "near_end", "end")

_FIXED_RT = 0x12  # bits 1 and 4 are always 1 in a DLE EOT reply


@dataclass(frozen=True, slots=True)
class PrinterState:
    """What the printer's sensors report. `offline` is the operator's switch (or a link fault)."""

    paper: Paper = "ok"
    cover_open: bool = False
    offline: bool = False
    drawer_high: bool = False
    recoverable_error: bool = False
    autocutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False  # head too hot

    @property
    def has_error(self) -> bool:
        return (
            self.recoverable_error or self.autocutter_error or self.unrecoverable_error or self.auto_recoverable_error
        )

    @property
    def is_offline(self) -> bool:
        """A printer goes offline on cover open, paper end and errors, not only by the switch."""
        return self.offline or self.cover_open or self.paper == "end" or self.has_error

    @property
    def can_print(self) -> bool:
        return not self.is_offline

    def with_changes(self, **changes: object) -> PrinterState:
        return replace(self, **changes)  # type: ignore[arg-type]


def _bit(flag: bool, value: int) -> int:
    return value if flag else 0


def _paper_rt(paper: Paper) -> int:
    return {"ok": 0x00, "near_end": 0x0C, "end": 0x6C}[paper]


def _paper_sensor(paper: Paper) -> int:
    return {"ok": 0x00, "near_end": 0x03, "end": 0x0F}[paper]


def _error_bits(state: PrinterState) -> int:
    return (
        _bit(state.recoverable_error, 0x04)
        | _bit(state.autocutter_error, 0x08)
        | _bit(state.unrecoverable_error, 0x20)
        | _bit(state.auto_recoverable_error, 0x40)
    )


def realtime_status(state: PrinterState, n: int) -> bytes:
    """The reply to DLE EOT n (n = 1 printer, 2 offline cause, 3 error cause, 4 paper sensor)."""
    if n == 1:
        value = _FIXED_RT | _bit(state.drawer_high, 0x04) | _bit(state.is_offline, 0x08)
    elif n == 2:
        value = (
            _FIXED_RT | _bit(state.cover_open, 0x04) | _bit(state.paper == "end", 0x20) | _bit(state.has_error, 0x40)
        )
    elif n == 3:
        value = _FIXED_RT | _error_bits(state)
    elif n == 4:
        value = _FIXED_RT | _paper_rt(state.paper)
    else:
        raise ValueError(f"DLE EOT n must be 1-4, got {n}")
    return bytes([value])


def transmit_status(state: PrinterState, n: int) -> bytes:
    """The reply to GS r n (1 paper sensor, 2 drawer); empty for any other n (no reply)."""
    if n == 1:
        return bytes([_paper_sensor(state.paper)])
    if n == 2:
        return bytes([_bit(state.drawer_high, 0x01)])
    return b""


def auto_status_block(state: PrinterState) -> bytes:
    """The 4-byte automatic status back block (sent when GS a enables it and on every change)."""
    first = 0x10 | _bit(state.drawer_high, 0x04) | _bit(state.is_offline, 0x08) | _bit(state.cover_open, 0x20)
    return bytes([first, _error_bits(state), _paper_sensor(state.paper), 0x00])


# GS a n: which kinds of change trigger an automatic status block.
ASB_DRAWER, ASB_ONLINE, ASB_ERROR, ASB_PAPER = 0x01, 0x02, 0x04, 0x08


def asb_changes(before: PrinterState, after: PrinterState) -> int:
    """The GS a categories that differ between two states (bitwise, as the GS a mask)."""
    changed = 0
    if before.drawer_high != after.drawer_high:
        changed |= ASB_DRAWER
    if (before.is_offline, before.cover_open) != (after.is_offline, after.cover_open):
        changed |= ASB_ONLINE
    if _error_bits(before) != _error_bits(after):
        changed |= ASB_ERROR
    if before.paper != after.paper:
        changed |= ASB_PAPER
    return changed
