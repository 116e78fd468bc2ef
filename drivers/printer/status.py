"""Decoding DLE EOT 1-4 replies into a PrinterStatus (pure, no I/O).

A reply to DLE EOT n (every n, 1-4) is one byte with the fixed bit pattern 0xx1xx10. The only
other bytes a printer sends here are a late reply to an earlier query (same pattern) and
automatic status back blocks (4 bytes, the first one 0xx1xx00), which `reply_byte` skips.
Anything else (a wrong fixed bit, text such as an HTTP server's "HTTP/1.1 400 ...") is not an
ESC/POS printer talking: ForeignReply, never a status read from a byte that merely looks like
one. A query with no reply in the answer window leaves its fields unknown (None), never "fine".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

DLE_EOT = b"\x10\x04"
QUERIES = (1, 2, 3, 4)  # printer, offline cause, error cause, paper sensor
_PATTERN_MASK, _PATTERN = 0x93, 0x12  # bits 0, 1, 4, 7 fixed as 0, 1, 1, 0
_ASB_FIRST_MASK, _ASB_FIRST = 0x93, 0x10  # automatic status back, byte 1: 0xx1xx00
_ASB_REST_MASK = 0x90  # bytes 2-4: bits 4 and 7 are 0
ASB_LENGTH = 4


def status_request(n: int) -> bytes:
    if n not in QUERIES:
        raise ValueError(f"DLE EOT n must be 1-4, got {n}")
    return DLE_EOT + bytes([n])


def is_status_byte(value: int) -> bool:
    return value & _PATTERN_MASK == _PATTERN


class ForeignReply(ValueError):
    """Bytes no ESC/POS printer sends in answer to DLE EOT: something else listens at the address."""


def is_status_back_block(block: bytes) -> bool:
    return (len(block) == ASB_LENGTH and block[0] & _ASB_FIRST_MASK == _ASB_FIRST
            and all(b & _ASB_REST_MASK == 0 for b in block[1:]))  # fmt: skip


def reply_byte(data: bytes) -> int | None:
    """The DLE EOT reply byte in `data` (the newest, after a late one), or None when none came (yet).

    `data` is everything read since the query was sent: status-shaped bytes and whole automatic
    status back blocks. Any other byte raises ForeignReply.
    """
    reply, i = None, 0
    while i < len(data):
        if is_status_byte(data[i]):
            reply, i = data[i], i + 1
            continue
        block = data[i : i + ASB_LENGTH]
        if len(block) < ASB_LENGTH and is_status_back_block(block + bytes(ASB_LENGTH - len(block))):
            return reply  # the start of a status back block: the rest is still on its way
        if not is_status_back_block(block):
            raise ForeignReply(_describe_foreign(data))
        i += ASB_LENGTH
    return reply


def _describe_foreign(data: bytes) -> str:
    # What came back is shown only as a length and whether it is text: it is not ours to log.
    kind = "text" if data.isascii() and all(32 <= b < 127 or b in b"\r\n\t" for b in data) else "bytes"
    return f"the answer to a status query is not an ESC/POS reply ({len(data)} {kind}, e.g. a web server)"


class Problem(StrEnum):
    """Why a printer cannot print, most important first."""

    NOT_ESCPOS = "not_escpos"  # something answered, but not an ESC/POS printer (wrong address or port)
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
    foreign_reply: bool = False  # the address answered with bytes no ESC/POS printer sends

    @property
    def known(self) -> bool:
        """Every query answered (one field read from each of DLE EOT 1, 2, 3 and 4)."""
        return None not in (self.online, self.cover_open, self.recoverable_error, self.paper_near_end)

    @property
    def problem(self) -> Problem | None:
        """The reason not to print (the most specific one the printer told), or None when ready."""
        if self.foreign_reply:
            return Problem.NOT_ESCPOS
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
        if self.problem is Problem.NOT_ESCPOS:
            return NOT_ESCPOS_TEXT
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
FOREIGN = PrinterStatus(foreign_reply=True)
NOT_ESCPOS_TEXT = "not an ESC/POS printer at this address"
