"""Scanner byte stream -> complete codes or rejections (sans-I/O: no ports, threads or clocks).

A scanner sends `[prefix][AIM id]data[suffix]terminator`. The terminator is CR, LF or CRLF, or
none at all: then a code ends when the line has been idle for `idle_timeout` seconds. Time comes
in as `now` arguments so the caller (or a test) owns the clock.

Garbage never becomes a code: bytes that are not UTF-8, control characters, over-long lines and
lines that never end are rejected with a reason that does not repeat what was read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

# AIM ISO/IEC 15424 symbology identifiers: `]` + code character + modifier character.
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
AIM_SYMBOLOGIES = {
    "A": "Code39",
    "C": "Code128",
    "d": "DataMatrix",
    "E": "EAN/UPC",
    "e": "GS1 DataBar",
    "F": "Codabar",
    "G": "Code93",
    "I": "ITF",
    "L": "PDF417",
    "Q": "QRCode",
    "z": "Aztec",
    "X": "Other",
}


class Terminator(Enum):
    CR = b"\r"
    LF = b"\n"
    CRLF = b"\r\n"
    NONE = b""


@dataclass(frozen=True, slots=True)
class FramingConfig:
    terminator: Terminator = Terminator.CR
    idle_timeout: float = 0.05  # ends a code when terminator is NONE
    partial_timeout: float = 1.0  # a started line with no terminator this long is dropped
    prefix: bytes = b""  # stripped when present
    suffix: bytes = b""  # stripped when present
    aim_ids: bool = True  # strip and report AIM `]Xn` identifiers
    max_length: int = 512  # bytes per code, terminator excluded
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class Code:
    text: str
    symbology: str | None = None
    aim_id: str | None = None

    def __repr__(self) -> str:  # the text may be a payment code
        return f"Code(<{len(self.text)} chars>, symbology={self.symbology!r})"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str  # says why, never what


FrameResult = Code | Rejected


class Framer:
    """Feed bytes with `feed(data, now)`, call `tick(now)` by `deadline()`; both return results."""

    def __init__(self, config: FramingConfig | None = None) -> None:
        self.config = config or FramingConfig()
        self._buffer = bytearray()
        self._overflowed = False  # discarding an over-long line until its terminator
        self._last_byte_at = 0.0

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        results: list[FrameResult] = []
        if not data:
            return results
        self._last_byte_at = now
        self._buffer += data
        terminator = self.config.terminator.value
        if terminator:
            while (end := self._buffer.find(terminator)) >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + len(terminator)]
                results.extend(self._finish(line))
        if len(self._buffer) > self.config.max_length:
            self._buffer.clear()
            if not self._overflowed:
                self._overflowed = True
                results.append(Rejected(f"code longer than {self.config.max_length} bytes"))
        return results

    def tick(self, now: float) -> list[FrameResult]:
        """Ends idle codes (terminator NONE) and drops lines that never ended."""
        if not self._buffer and not self._overflowed:
            return []
        if self.config.terminator is Terminator.NONE:
            if now - self._last_byte_at >= self.config.idle_timeout:
                return self._flush()
        elif now - self._last_byte_at >= self.config.partial_timeout:
            self._buffer.clear()
            if self._overflowed:
                self._overflowed = False
                return []
            return [Rejected("incomplete code dropped (no terminator)")]
        return []

    def deadline(self) -> float | None:
        """When `tick` has something to do, or None when idle."""
        if not self._buffer and not self._overflowed:
            return None
        wait = self.config.idle_timeout if self.config.terminator is Terminator.NONE else self.config.partial_timeout
        return self._last_byte_at + wait

    def _flush(self) -> list[FrameResult]:
        line = bytes(self._buffer)
        self._buffer.clear()
        return self._finish(line)

    def _finish(self, line: bytes) -> list[FrameResult]:
        if self._overflowed:  # the tail of an over-long line: already reported
            self._overflowed = False
            return []
        # Stray CR/LF around a line are terminator bytes of a scanner set to CRLF on a port set
        # to CR or LF (a common mismatch), never code content.
        line = line.strip(b"\r\n")
        if not line:
            return []
        return [parse_code(line, self.config)]


def parse_code(line: bytes, config: FramingConfig) -> FrameResult:
    """One complete line (terminator removed) -> a clean code, or why it is not one."""
    if len(line) > config.max_length:
        return Rejected(f"code longer than {config.max_length} bytes")
    if config.prefix and line.startswith(config.prefix):
        line = line[len(config.prefix) :]
    if config.suffix and line.endswith(config.suffix):
        line = line[: -len(config.suffix)]
    try:
        text = line.decode(config.encoding)
    except UnicodeDecodeError:
        return Rejected(f"not {config.encoding} text ({len(line)} bytes)")
    aim_id = None
    if config.aim_ids and _AIM_ID.match(text):
        aim_id, text = text[:3], text[3:]
    if bad := _control_characters(text):
        return Rejected(f"control characters in code: {', '.join(bad)}")
    if not text.strip():
        return Rejected("empty code")
    symbology = AIM_SYMBOLOGIES.get(aim_id[1], "Other") if aim_id else None
    return Code(text, symbology, aim_id)


def _control_characters(text: str) -> list[str]:
    """Names of the control characters in `text` (C0, DEL, C1), e.g. ['U+0000']."""
    found = sorted({ch for ch in text if unicodedata.category(ch) == "Cc"})
    return [f"U+{ord(ch):04X}" for ch in found]
