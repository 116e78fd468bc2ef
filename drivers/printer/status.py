"""Decoding DLE EOT 1-4 replies into a PrinterStatus (pure, no I/O).

DLE EOT is answered the moment it arrives, and other bytes can reach us too (automatic status
back blocks, GS r replies, late answers): a reply to DLE EOT always has the fixed bit pattern
0xx1xx10, so `reply_byte` keeps only bytes with that pattern and ignores the rest. A query
with no such byte in the answer window leaves its fields unknown (None), never "fine".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

DLE_EOT = b"\x10\x04"
QUERIES = (1, 2, 3, 4)  # printer, offline cause, error cause, paper sensor
_PATTERN_MASK, _PATTERN = 0x93, 0x12  # bits 0, 1, 4, 7 fixed as 0, 1, 1, 0


def status_request(n: int) -> bytes:
    if n not in QUERIES:
        raise ValueError(f"DLE EOT n must be 1-4, got {n}")
    return DLE_EOT + bytes([n])


def is_status_byte(value: int) -> bool:
    return value & _PATTERN_MASK == _PATTERN


def reply_byte(data: bytes) -> int | None:
    """The last byte of `data` shaped like a DLE EOT reply, or None (unsolicited bytes dropped)."""
    for value in reversed(data):
        if is_status_byte(value):
            return value
    return None


class Problem(StrEnum):
    """Why a printer cannot print, most important first."""

    UNKNOWN = "unknown"
    COVER_OPEN = "cover_open"
    PAPER_END = "paper_end"
    ERROR = "error"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said; None = it did not say (no reply, or a transport that cannot read)."""

    online: bool | None = None
    drawer_high: bool | None = None
    cover_open: bool | None = None
    paper_end: bool | None = None
    paper_near_end: bool | None = None
    error: bool | None = None
    recoverable_error: bool | None = None
    autocutter_error: bool | None = None
    unrecoverable_error: bool | None = None
    head_too_hot: bool | None = None

    @property
    def known(self) -> bool:
        """Every query answered (one field read from each of DLE EOT 1, 2, 3 and 4)."""
        return None not in (self.online, self.cover_open, self.recoverable_error, self.paper_near_end)

    @property
    def problem(self) -> Problem | None:
        """The reason not to print (the most specific one the printer told), or None when ready."""
        if self.cover_open:
            return Problem.COVER_OPEN
        if self.paper_end:
            return Problem.PAPER_END
        if self.error:
            return Problem.ERROR
        if self.online is False:
            return Problem.OFFLINE
        if not self.known:
            return Problem.UNKNOWN
        return None

    @property
    def ready(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is None:
            return "ready (paper near end)" if self.paper_near_end else "ready"
        return self.problem.value.replace("_", " ")

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["ready"] = self.ready
        data["problem"] = self.problem.value if self.problem else None
        return data


def _bit(value: int | None, mask: int) -> bool | None:
    return None if value is None else bool(value & mask)


def decode_status(replies: Mapping[int, int | None]) -> PrinterStatus:
    """Build a status from the reply byte to each DLE EOT n (missing or None = no reply)."""
    printer, offline, errors, paper = (replies.get(n) for n in QUERIES)
    error_bits = None if errors is None else errors & 0x6C
    return PrinterStatus(
        online=None if printer is None else not printer & 0x08,
        drawer_high=_bit(printer, 0x04),
        cover_open=_bit(offline, 0x04),
        # Paper end shows in DLE EOT 2 (printing stopped) and DLE EOT 4 (sensor): either counts.
        paper_end=_any(_bit(offline, 0x20), _bit(paper, 0x60)),
        paper_near_end=_bit(paper, 0x0C),
        error=_any(_bit(offline, 0x40), None if error_bits is None else bool(error_bits)),
        recoverable_error=_bit(errors, 0x04),
        autocutter_error=_bit(errors, 0x08),
        unrecoverable_error=_bit(errors, 0x20),
        head_too_hot=_bit(errors, 0x40),
    )


def _any(*flags: bool | None) -> bool | None:
    if any(flags):
        return True
    return None if all(f is None for f in flags) else False


UNKNOWN = PrinterStatus()
