"""An incremental, I/O-free ESC/POS parser (sans-I/O, in the manner of h11).

    parser = Parser()
    for chunk in chunks:
        for command in parser.feed(chunk):
            ...
    leftovers = parser.close()   # [Truncated(...)] if the stream ended inside a command

Commands split across feeds are held until complete. Unknown commands become `Unknown` and parsing
goes on; nothing raises, whatever the bytes.

Real-time status (DLE EOT n, n = 1-4): a real printer executes it the moment the three bytes arrive,
*even inside the data of another command* (Epson warns that bit-image data containing 10 04 n
triggers a status reply). We do the same: a separate scan over the raw stream emits `StatusRequest`
as soon as its last byte is fed, wherever it sits, and the bytes still belong to the surrounding
command. Between commands the main parser consumes DLE EOT n silently, so each request is emitted
once. Events come out in stream order of their last byte, so a request inside an image comes out
before that image does. GS r, in contrast, is queued behind the print data, as on real printers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hardware_sim.printer.commands import (
    AutoStatusBack,
    Barcode,
    CashDrawer,
    CodePage,
    ColumnImage,
    Command,
    Cut,
    Feed,
    GraphicsPrint,
    GraphicsStore,
    Init,
    MovePosition,
    Other,
    QrEcc,
    QrModel,
    QrPrint,
    QrSize,
    QrStore,
    RasterImage,
    SetAlign,
    SetBarcodeHeight,
    SetBarcodeTextPosition,
    SetBarcodeWidth,
    SetBold,
    SetCharSize,
    SetCharSpacing,
    SetFont,
    SetKanjiMode,
    SetLeftMargin,
    SetLineSpacing,
    SetPrintMode,
    SetPrintWidth,
    SetReverse,
    SetRotate90,
    SetTabStops,
    SetUnderline,
    SetUpsideDown,
    StatusRequest,
    Symbol2DModuleSize,
    Symbol2DPrint,
    Symbol2DStore,
    Text,
    Truncated,
    Unknown,
)

#: A command declaring more data than this is not buffered: its header is reported as `Unknown`
#: and its body skipped as it streams by, so a hostile length cannot exhaust memory.
MAX_COMMAND_BYTES = 16 * 1024 * 1024

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
_REALTIME_STATUS = re.compile(rb"\x10\x04[\x01-\x04]")
_TEXT_RUN = re.compile(rb"[\x09\x20-\xff]+")
_QR_ECC = {48: "L", 49: "M", 50: "Q", 51: "H"}

# Fixed-length commands: second byte -> number of parameter bytes after the two-byte prefix.
_ESC_FIXED: dict[int, tuple[str, int]] = {
    0x0C: ("ESC FF", 0),
    0x20: ("ESC SP", 1),
    0x21: ("ESC !", 1),
    0x24: ("ESC $", 2),
    0x25: ("ESC %", 1),
    0x2D: ("ESC -", 1),
    0x32: ("ESC 2", 0),
    0x33: ("ESC 3", 1),
    0x3C: ("ESC <", 0),
    0x3D: ("ESC =", 1),
    0x3F: ("ESC ?", 1),
    0x40: ("ESC @", 0),
    0x45: ("ESC E", 1),
    0x47: ("ESC G", 1),
    0x4A: ("ESC J", 1),
    0x4C: ("ESC L", 0),
    0x4D: ("ESC M", 1),
    0x52: ("ESC R", 1),
    0x53: ("ESC S", 0),
    0x54: ("ESC T", 1),
    0x56: ("ESC V", 1),
    0x57: ("ESC W", 8),
    0x5C: ("ESC \\", 2),
    0x61: ("ESC a", 1),
    0x63: ("ESC c", 2),
    0x64: ("ESC d", 1),
    0x65: ("ESC e", 1),
    0x69: ("ESC i", 0),
    0x6D: ("ESC m", 0),
    0x70: ("ESC p", 3),
    0x72: ("ESC r", 1),
    0x74: ("ESC t", 1),
    0x75: ("ESC u", 1),
    0x76: ("ESC v", 0),
    0x7B: ("ESC {", 1),
}
_GS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("GS !", 1),
    0x23: ("GS #", 1),
    0x24: ("GS $", 2),
    0x2F: ("GS /", 1),
    0x3A: ("GS :", 0),
    0x42: ("GS B", 1),
    0x45: ("GS E", 1),
    0x48: ("GS H", 1),
    0x49: ("GS I", 1),
    0x4C: ("GS L", 2),
    0x50: ("GS P", 2),
    0x54: ("GS T", 1),
    0x57: ("GS W", 2),
    0x5C: ("GS \\", 2),
    0x5E: ("GS ^", 3),
    0x61: ("GS a", 1),
    0x62: ("GS b", 1),
    0x63: ("GS c", 0),
    0x66: ("GS f", 1),
    0x67: ("GS g", 4),
    0x68: ("GS h", 1),
    0x72: ("GS r", 1),
    0x77: ("GS w", 1),
    0x7A: ("GS z", 3),
}
_FS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("FS !", 1),
    0x26: ("FS &", 0),
    0x2D: ("FS -", 1),
    0x2E: ("FS .", 0),
    0x32: ("FS 2", 74),
    0x3F: ("FS ?", 2),
    0x43: ("FS C", 1),
    0x53: ("FS S", 2),
    0x57: ("FS W", 1),
    0x70: ("FS p", 2),
}
# Single control bytes a printer accepts and that change nothing we draw.
_C0_KNOWN = {0x00: "NUL", 0x0C: "FF", 0x0D: "CR", 0x18: "CAN"}


class _Skip:
    """Result of measuring a command too large to buffer: report `header`, skip `body` bytes."""

    __slots__ = ("body", "header")

    def __init__(self, header: int, body: int) -> None:
        self.header = header
        self.body = body


# A measure function returns the command's total length (once the bytes that give it are here;
# the caller waits for the rest), None when more bytes are needed to know it, or a _Skip.
_Measure = int | None | _Skip


def _u16(buf: bytes | bytearray, at: int) -> int:
    return buf[at] | (buf[at + 1] << 8)


def _sized(total: int, header: int) -> _Measure:
    return total if total <= MAX_COMMAND_BYTES else _Skip(header, total - header)


class Parser:
    """Turns an ESC/POS byte stream into `Command` events. Pure: no I/O, no clock, no threads."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._buf_offset = 0  # stream offset of self._buf[0]
        self._skip = 0  # body bytes of an oversized command still to discard
        self._fed = 0  # total bytes fed
        self._tail = b""  # last two bytes fed, to find DLE EOT n split across feeds
        self.commands = 0
        self.unknown = 0
        self.truncated = 0

    def feed(self, data: bytes) -> list[Command]:
        """Parse `data`; return the commands it completed, in stream order."""
        realtime = self._scan_realtime(data)
        self._fed += len(data)
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            self._buf_offset += dropped
            data = data[dropped:]
        self._buf += data
        parsed = self._parse_buffer()
        if not realtime:
            return [command for _, command in parsed]
        merged = sorted(realtime + parsed, key=lambda item: item[0])  # stable: real-time first on ties
        return [command for _, command in merged]

    def close(self) -> list[Command]:
        """End of stream: whatever command is still incomplete is reported as `Truncated`."""
        if not self._buf and not self._skip:
            return []
        leftover = Truncated(raw=bytes(self._buf))
        self._buf.clear()
        self._skip = 0
        self.truncated += 1
        return [leftover]

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a command."""
        return len(self._buf) + self._skip

    def _scan_realtime(self, data: bytes) -> list[tuple[int, Command]]:
        window = self._tail + data
        base = self._fed - len(self._tail)
        found: list[tuple[int, Command]] = []
        for match in _REALTIME_STATUS.finditer(window):
            raw = match.group()
            found.append((base + match.end() - 1, StatusRequest(raw=raw, command="DLE EOT", n=raw[2])))
        self._tail = window[-2:]
        return found

    def _parse_buffer(self) -> list[tuple[int, Command]]:
        buf = self._buf
        out: list[tuple[int, Command]] = []
        pos = 0
        while pos < len(buf):
            byte = buf[pos]
            if byte >= 0x20 or byte == 0x09:
                match = _TEXT_RUN.match(buf, pos)
                assert match is not None
                end = match.end()
                out.append((self._buf_offset + end - 1, Text(raw=bytes(buf[pos:end]), data=bytes(buf[pos:end]))))
                self.commands += 1
                pos = end
                continue
            measured = self._measure(buf, pos)
            if measured is None:
                break
            if isinstance(measured, _Skip):
                header = bytes(buf[pos : pos + measured.header])
                out.append((self._buf_offset + pos + measured.header - 1, Unknown(raw=header)))
                self.unknown += 1
                available = len(buf) - pos - measured.header
                if measured.body > available:
                    self._skip = measured.body - available
                    pos = len(buf)  # the rest of the body is dropped as it arrives (see feed)
                    break
                pos += measured.header + measured.body
                continue
            raw = bytes(buf[pos : pos + measured])
            command = _build(raw)
            if command is not None:
                out.append((self._buf_offset + pos + measured - 1, command))
                self.commands += 1
                if isinstance(command, Unknown):
                    self.unknown += 1
            pos += measured
        del buf[:pos]
        self._buf_offset += pos
        return out

    def _measure(self, buf: bytearray, pos: int) -> _Measure:
        byte = buf[pos]
        if byte in (ESC, GS, FS, DLE):
            if pos + 1 >= len(buf):
                return None
            table = _MEASURES.get(byte, {})
            measure = table.get(buf[pos + 1])
            if measure is None:
                # An unknown ESC/GS/FS x: skip the two bytes (a printer cannot know its length either).
                return 1 if byte == DLE else 2
            measured = measure(buf, pos)
            if isinstance(measured, int) and pos + measured > len(buf):
                return None  # the length is known, the bytes are not all here yet
            return measured
        return 1  # LF and other single control bytes


def _fixed(params: int) -> Callable[[bytearray, int], _Measure]:
    def measure(buf: bytearray, pos: int) -> _Measure:
        return 2 + params

    return measure


def _need(buf: bytearray, pos: int, count: int) -> bool:
    return pos + count <= len(buf)


def _measure_pl_ph(buf: bytearray, pos: int) -> _Measure:
    """ESC/GS/FS ( X pL pH data: 5 header bytes + pL + 256 * pH."""
    if not _need(buf, pos, 5):
        return None
    return _sized(5 + _u16(buf, pos + 3), 5)


def _measure_gs8(buf: bytearray, pos: int) -> _Measure:
    """GS 8 L p1 p2 p3 p4 data: graphics with a 4-byte length."""
    if not _need(buf, pos, 7):
        return None
    if buf[pos + 2] != 0x4C:
        return 2
    return _sized(7 + int.from_bytes(buf[pos + 3 : pos + 7], "little"), 7)


def _measure_column_image(buf: bytearray, pos: int) -> _Measure:
    """ESC * m nL nH d: nL + 256 * nH columns of 1 (m 0/1) or 3 (m 32/33) bytes."""
    if not _need(buf, pos, 5):
        return None
    mode = buf[pos + 2]
    per_column = 3 if mode in (32, 33) else 1
    return 5 + per_column * _u16(buf, pos + 3)


def _measure_raster(buf: bytearray, pos: int) -> _Measure:
    """GS v 0 m xL xH yL yH d: xL + 256 * xH bytes wide, yL + 256 * yH dots high."""
    if not _need(buf, pos, 3):
        return None
    if buf[pos + 2] not in (0x30, 0x00):
        return 2
    if not _need(buf, pos, 8):
        return None
    return _sized(8 + _u16(buf, pos + 4) * _u16(buf, pos + 6), 8)


def _measure_barcode(buf: bytearray, pos: int) -> _Measure:
    """GS k m: m 0-6 data up to NUL; m 65-79 n then n bytes."""
    if not _need(buf, pos, 3):
        return None
    system = buf[pos + 2]
    if system <= 6:
        end = buf.find(b"\x00", pos + 3, pos + 3 + 256)
        if end >= 0:
            return end - pos + 1
        # No terminator within 255 bytes: not a barcode after all; skip the header only.
        return 3 if len(buf) - pos > 3 + 256 else None
    if not _need(buf, pos, 4):
        return None
    return 4 + buf[pos + 3]


def _measure_gs_v(buf: bytearray, pos: int) -> _Measure:
    """GS V m [n]: m 0/1/48/49 alone, m 65/66/97/98/103/104 followed by n."""
    if not _need(buf, pos, 3):
        return None
    return 4 if buf[pos + 2] in (65, 66, 97, 98, 103, 104) else 3


def _measure_user_chars(buf: bytearray, pos: int) -> _Measure:
    """ESC & y c1 c2 [x d1...d(y*x)] for each character c1..c2."""
    if not _need(buf, pos, 5):
        return None
    height_bytes, first, last = buf[pos + 2], buf[pos + 3], buf[pos + 4]
    at = pos + 5
    for _ in range(max(0, last - first + 1)):
        if at >= len(buf):
            return None
        at += 1 + height_bytes * buf[at]
    return at - pos


def _measure_nul_terminated(limit: int) -> Callable[[bytearray, int], _Measure]:
    """ESC D n1...nk NUL (tab stops): up to `limit` values."""

    def measure(buf: bytearray, pos: int) -> _Measure:
        end = buf.find(b"\x00", pos + 2, pos + 2 + limit + 1)
        if end >= 0:
            return end - pos + 1
        return 2 + limit if len(buf) - pos >= 2 + limit + 1 else None

    return measure


def _measure_nv_images(buf: bytearray, pos: int) -> _Measure:
    """FS q n [xL xH yL yH d1...d(x*y*8)] n times: define NV bit images."""
    if not _need(buf, pos, 3):
        return None
    at = pos + 3
    for _ in range(buf[pos + 2]):
        if not _need(buf, at, 4):
            return None
        at += 4 + _u16(buf, at) * _u16(buf, at + 2) * 8
        if at - pos > MAX_COMMAND_BYTES:
            return 3  # absurd: report the header only
    return at - pos


def _measure_downloaded_image(buf: bytearray, pos: int) -> _Measure:
    """GS * x y d1...d(x*y*8)."""
    if not _need(buf, pos, 4):
        return None
    return 4 + buf[pos + 2] * buf[pos + 3] * 8


def _measure_fs_g(buf: bytearray, pos: int) -> _Measure:
    """FS g 1 m a1..a4 nL nH d (write NV user memory) / FS g 2 m a1..a4 nL nH (read)."""
    if not _need(buf, pos, 10):
        return None
    return 10 + (_u16(buf, pos + 8) if buf[pos + 2] == 0x31 else 0)


def _measure_dle(buf: bytearray, pos: int) -> _Measure:
    """DLE EOT n [a], DLE ENQ n, DLE DC4 fn ..."""
    if not _need(buf, pos, 3):
        return None
    second, third = buf[pos + 1], buf[pos + 2]
    if second == 0x04:
        return 4 if third in (7, 8) else 3
    if second == 0x05:
        return 3
    return {1: 5, 2: 5, 3: 5, 7: 4, 8: 10}.get(third, 3)  # DLE DC4 fn


_MEASURES: dict[int, dict[int, Callable[[bytearray, int], _Measure]]] = {
    ESC: {
        **{code: _fixed(params) for code, (_, params) in _ESC_FIXED.items()},
        0x26: _measure_user_chars,
        0x28: _measure_pl_ph,
        0x2A: _measure_column_image,
        0x44: _measure_nul_terminated(32),
    },
    GS: {
        **{code: _fixed(params) for code, (_, params) in _GS_FIXED.items()},
        0x28: _measure_pl_ph,
        0x2A: _measure_downloaded_image,
        0x38: _measure_gs8,
        0x56: _measure_gs_v,
        0x6B: _measure_barcode,
        0x76: _measure_raster,
    },
    FS: {
        **{code: _fixed(params) for code, (_, params) in _FS_FIXED.items()},
        0x28: _measure_pl_ph,
        0x67: _measure_fs_g,
        0x71: _measure_nv_images,
    },
    DLE: {0x04: _measure_dle, 0x05: _measure_dle, 0x14: _measure_dle},
}


def _build(raw: bytes) -> Command | None:
    """The typed command for one complete command's bytes (None: consumed silently)."""
    first = raw[0]
    if first == 0x0A:
        return Feed(raw=raw, lines=1)
    if first == ESC and len(raw) >= 2:
        return _build_esc(raw)
    if first == GS and len(raw) >= 2:
        return _build_gs(raw)
    if first == FS and len(raw) >= 2:
        return _build_fs(raw)
    if first == DLE and len(raw) >= 3:
        if raw[1] == 0x04 and raw[2] in (1, 2, 3, 4):
            return None  # already emitted by the real-time scan
        return Other(raw=raw, name="DLE " + {0x04: "EOT", 0x05: "ENQ"}.get(raw[1], "DC4"))
    if len(raw) == 1 and first in _C0_KNOWN:
        return Other(raw=raw, name=_C0_KNOWN[first])
    return Unknown(raw=raw)


def _build_esc(raw: bytes) -> Command:
    code = raw[1]
    arg = raw[2] if len(raw) > 2 else 0
    if len(raw) == 2 and code not in _ESC_FIXED:
        return Unknown(raw=raw)
    match code:
        case 0x40:
            return Init(raw=raw)
        case 0x21:
            return SetPrintMode(raw=raw, mode=arg)
        case 0x45 | 0x47:
            return SetBold(raw=raw, on=bool(arg & 1))
        case 0x2D:
            return SetUnderline(raw=raw, dots=min(arg & 0x0F if arg >= 0x30 else arg, 2))
        case 0x4D:
            return SetFont(raw=raw, font=1 if arg in (1, 0x31) else 0)
        case 0x61:
            return SetAlign(raw=raw, align=arg - 0x30 if arg in (0x30, 0x31, 0x32) else min(arg, 2))
        case 0x32:
            return SetLineSpacing(raw=raw, dots=None)
        case 0x33:
            return SetLineSpacing(raw=raw, dots=arg)
        case 0x64:
            return Feed(raw=raw, lines=arg)
        case 0x4A:
            return Feed(raw=raw, dots=arg)
        case 0x74:
            return CodePage(raw=raw, page=arg)
        case 0x69 | 0x6D:
            return Cut(raw=raw, partial=code == 0x6D)
        case 0x70:
            return CashDrawer(raw=raw, pin=5 if arg in (1, 0x31) else 2, on_ms=raw[3] * 2, off_ms=raw[4] * 2)
        case 0x2A:
            return ColumnImage(raw=raw, mode=arg, columns=_u16(raw, 3), data=raw[5:])
        case 0x7B:
            return SetUpsideDown(raw=raw, on=bool(arg & 1))
        case 0x56:
            return SetRotate90(raw=raw, on=arg in (1, 2, 0x31, 0x32))
        case 0x20:
            return SetCharSpacing(raw=raw, dots=arg)
        case 0x44:
            return SetTabStops(raw=raw, columns=tuple(raw[2:-1] if raw.endswith(b"\x00") else raw[2:]))
        case 0x24:
            return MovePosition(raw=raw, dots=_u16(raw, 2))
        case 0x5C:
            offset = _u16(raw, 2)
            return MovePosition(raw=raw, dots=offset - 65536 if offset >= 32768 else offset, relative=True)
        case _:
            name = _ESC_FIXED.get(code, ("ESC " + {0x26: "&", 0x28: "(", 0x44: "D"}.get(code, "?"), 0))[0]
            return Other(raw=raw, name=name)


def _build_gs(raw: bytes) -> Command:
    code = raw[1]
    if len(raw) == 2:
        return Other(raw=raw, name=_GS_FIXED[code][0]) if code in _GS_FIXED else Unknown(raw=raw)
    arg = raw[2]
    match code:
        case 0x21:
            return SetCharSize(raw=raw, width=(arg >> 4 & 0x07) + 1, height=(arg & 0x07) + 1)
        case 0x42:
            return SetReverse(raw=raw, on=bool(arg & 1))
        case 0x4C:
            return SetLeftMargin(raw=raw, dots=_u16(raw, 2))
        case 0x57:
            return SetPrintWidth(raw=raw, dots=_u16(raw, 2))
        case 0x56:
            feed = raw[3] if len(raw) == 4 else 0
            return Cut(raw=raw, partial=bool(arg & 1) if arg < 65 else arg in (66, 98, 104), feed=feed)
        case 0x76 if len(raw) >= 8:
            return RasterImage(raw=raw, mode=raw[3] & 3, width_bytes=_u16(raw, 4), height=_u16(raw, 6), data=raw[8:])
        case 0x6B:
            if arg <= 6:
                return Barcode(raw=raw, system=arg, data=raw[3:-1])
            return Barcode(raw=raw, system=arg, data=raw[4:])
        case 0x68:
            return SetBarcodeHeight(raw=raw, dots=arg)
        case 0x77:
            return SetBarcodeWidth(raw=raw, module=arg)
        case 0x48:
            return SetBarcodeTextPosition(raw=raw, position=arg - 0x30 if arg >= 0x30 else arg)
        case 0x72:
            return StatusRequest(raw=raw, command="GS r", n=arg - 0x30 if arg >= 0x30 else arg)
        case 0x61:
            return AutoStatusBack(raw=raw, mask=arg)
        case 0x28 if len(raw) >= 5:
            return _build_gs_paren(raw)
        case 0x38 if len(raw) >= 7:
            return _build_graphics(raw, raw[7:])
        case _:
            name = _GS_FIXED.get(code, ("GS " + {0x28: "(", 0x2A: "*", 0x38: "8", 0x76: "v"}.get(code, "?"), 0))[0]
            return Other(raw=raw, name=name)


def _build_gs_paren(raw: bytes) -> Command:
    kind, body = raw[2], raw[5:]
    if kind == 0x6B and len(body) >= 2:  # GS ( k: 2-D symbols
        symbol, fn = body[0], body[1]
        if symbol == 0x31:
            return _build_qr(raw, fn, body[2:])
        if fn == 0x43 and symbol in (0x30, 0x35, 0x36) and len(body) >= 3:
            return Symbol2DModuleSize(raw=raw, symbol=symbol, module=max(1, min(body[2], 16)))
        if fn == 0x50 and symbol in (0x30, 0x32, 0x35, 0x36):
            return Symbol2DStore(raw=raw, symbol=symbol, data=body[3:])
        if fn == 0x51 and symbol in (0x30, 0x32, 0x35, 0x36):
            return Symbol2DPrint(raw=raw, symbol=symbol)
        names = {
            0x30: "PDF417",
            0x32: "MaxiCode",
            0x33: "GS1 DataBar",
            0x34: "Composite",
            0x35: "Aztec",
            0x36: "DataMatrix",
        }
        return Other(raw=raw, name=f"GS ( k {names.get(symbol, hex(symbol))} fn {fn}")
    if kind == 0x4C:
        return _build_graphics(raw, body)
    return Other(raw=raw, name=f"GS ( {chr(kind) if 0x20 < kind < 0x7F else hex(kind)}")


def _build_qr(raw: bytes, fn: int, params: bytes) -> Command:
    arg = params[0] if params else 0
    match fn:
        case 0x41:  # fn 165
            return QrModel(raw=raw, model={0x31: 1, 0x32: 2, 0x33: 3}.get(arg, 2))
        case 0x43:  # fn 167
            return QrSize(raw=raw, module=max(1, min(arg, 16)))
        case 0x45:  # fn 169
            return QrEcc(raw=raw, level=_QR_ECC.get(arg, "L"))
        case 0x50:  # fn 180
            return QrStore(raw=raw, data=params[1:])
        case 0x51:  # fn 181
            return QrPrint(raw=raw)
        case _:
            return Other(raw=raw, name=f"GS ( k QR fn {fn}")


def _build_graphics(raw: bytes, body: bytes) -> Command:
    """GS ( L / GS 8 L body: m fn ... (m = 0x30)."""
    if len(body) < 2:
        return Other(raw=raw, name="GS ( L")
    fn = body[1]
    if fn in (2, 50):
        return GraphicsPrint(raw=raw)
    if fn == 112 and len(body) >= 10:
        width, height = _u16(body, 6), _u16(body, 8)
        return GraphicsStore(
            raw=raw,
            width=width,
            height=height,
            scale_x=max(1, min(body[3], 2)),
            scale_y=max(1, min(body[4], 2)),
            data=body[10:],
            colour=body[5] - 48 if 49 <= body[5] <= 52 else 1,
            tone=body[2],
        )
    return Other(raw=raw, name=f"GS ( L fn {fn}")


def _build_fs(raw: bytes) -> Command:
    code = raw[1]
    if code == 0x26:
        return SetKanjiMode(raw=raw, on=True)
    if code == 0x2E:
        return SetKanjiMode(raw=raw, on=False)
    name = _FS_FIXED.get(code, ("FS " + {0x28: "(", 0x67: "g", 0x71: "q"}.get(code, "?"), 0))[0]
    if len(raw) == 2 and code not in _FS_FIXED:
        return Unknown(raw=raw)
    return Other(raw=raw, name=name)
