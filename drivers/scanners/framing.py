"""Scanner byte stream -> complete codes or rejections (sans-I/O: no ports, threads or clocks).

A scanner sends `[prefix][AIM id]data[suffix]terminator`. The terminator is CR, LF or CRLF, or
none at all: then a code ends when the line has been idle for `idle_timeout` seconds. Time comes
in as `now` arguments so the caller (or a test) owns the clock.

A real scanner sends one code as one burst. A pause longer than `inter_char_gap` inside a line
means the bytes before it are a fragment (a read cut short): they are dropped, with a warning
(throttled, and never showing the bytes), and the bytes after the pause start a new code. So a
fragment followed by a full code is never joined into one longer "code".

Garbage never becomes a code: bytes that are not UTF-8, control characters, over-long lines and
lines that never end are rejected with a reason that does not repeat what was read.
"""

from __future__ import annotations

import dataclasses
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
    # A pause inside a line longer than this ends it as a fragment (terminated framing only; with
    # NONE, idle_timeout is that pause). None = the transport's default: BYTE_STREAM_GAP for bytes
    # (serial), hid_keymap.KEYSTROKE_GAP for key events.
    inter_char_gap: float | None = None
    fragment_warning_interval: float = 60.0  # at most one fragment warning this often; all are counted
    prefix: bytes = b""  # stripped when present
    suffix: bytes = b""  # stripped when present
    aim_ids: bool = True  # strip and report AIM `]Xn` identifiers
    max_length: int = 512  # bytes per code, terminator excluded
    encoding: str = "utf-8"


# A scanner sends a code as one burst: about 1 ms per character at 9600 baud (8 ms at 1200), a
# USB CDC-ACM scanner in one or two USB packets. 50 ms (as idle_timeout, the pause that ends a
# code without a terminator) is several character times even on a slow line, and far under the
# fastest re-scan a cashier can make: a longer pause inside a line means a cut read.
BYTE_STREAM_GAP = 0.05


def with_gap_default(config: FramingConfig | None, gap: float) -> FramingConfig:
    """`config` with `inter_char_gap` set to a transport's default when it was left unset."""
    config = config or FramingConfig()
    return config if config.inter_char_gap is not None else dataclasses.replace(config, inter_char_gap=gap)


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
        self.config = with_gap_default(config, BYTE_STREAM_GAP)
        self._buffer = bytearray()
        self._overflowed = False  # discarding an over-long line until its terminator
        self._last_byte_at = 0.0
        self.fragments_dropped = 0  # lines cut by a pause, since this framer started
        self._fragments_unreported = 0
        self._fragment_warned_at: float | None = None

    def feed(self, data: bytes, now: float, arrived_after: float | None = None) -> list[FrameResult]:
        """`data` read at `now`. `arrived_after`: the earliest it can have come (the caller's previous
        read), when the caller cannot tell exactly; a pause is measured from there, so a late read
        (a busy machine) never cuts a code that came as one burst."""
        results: list[FrameResult] = []
        if not data:
            return results
        first_byte_at = now if arrived_after is None else min(arrived_after, now)
        results += self._end_cut_line(first_byte_at, now)
        self._last_byte_at = now
        self._buffer += data
        terminator = self.config.terminator.value
        if terminator:
            while (end := self._buffer.find(terminator)) >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + len(terminator)]
                results.extend(self._finish(line))
            # Stray CR/LF after a terminator (a CRLF scanner on a CR port) start no line.
            while self._buffer.startswith((b"\r", b"\n")):
                del self._buffer[:1]
        if len(self._buffer) > self.config.max_length:
            self._buffer.clear()
            if not self._overflowed:
                self._overflowed = True
                results.append(Rejected(f"code longer than {self.config.max_length} bytes"))
        return results

    def _end_cut_line(self, first_byte_at: float, now: float) -> list[FrameResult]:
        """Drops the pending line when `first_byte_at` comes after a pause longer than the gap."""
        gap = self.config.inter_char_gap or BYTE_STREAM_GAP
        if self.config.terminator is Terminator.NONE or first_byte_at - self._last_byte_at <= gap:
            return []
        if self._overflowed:  # the tail of an over-long line, already reported: it ends here
            self._overflowed = False
            self._buffer.clear()
            return []
        if not self._buffer:
            return []
        self._buffer.clear()
        self.fragments_dropped += 1
        self._fragments_unreported += 1
        warned_at = self._fragment_warned_at
        if warned_at is not None and now - warned_at < self.config.fragment_warning_interval:
            return []
        count, self._fragments_unreported, self._fragment_warned_at = self._fragments_unreported, 0, now
        counts = f"{count} since the last warning, " if count > 1 else ""
        return [Rejected(f"code fragment dropped: a pause over {gap * 1000:.0f} ms inside a line (a read cut "
                         f"short); the next code stands alone ({counts}{self.fragments_dropped} in all)")]  # fmt: skip

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
            self.fragments_dropped += 1
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
