"""The typed events the ESC/POS parser emits: one per command (or run of text) in the byte stream.

Every event keeps the exact bytes it was parsed from (`raw`), so a job can be re-rendered,
counted and reported without the parser's help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Command:
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Text(Command):
    """Printable bytes, undecoded: the renderer decodes them with the code page in force."""

    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Init(Command):
    """ESC @: every mode back to its default, QR settings included."""


@dataclass(frozen=True, slots=True)
class Feed(Command):
    """Print the line buffer, then feed `lines` lines (LF, ESC d) or `dots` dots (ESC J)."""

    lines: int = 0
    dots: int = 0


@dataclass(frozen=True, slots=True)
class SetAlign(Command):
    align: int = 0  # 0 left, 1 centre, 2 right


@dataclass(frozen=True, slots=True)
class SetPrintMode(Command):
    """ESC ! n: bit0 font B, bit3 bold, bit4 double height, bit5 double width, bit7 underline."""

    mode: int = 0


@dataclass(frozen=True, slots=True)
class SetCharSize(Command):
    """GS ! n: width and height multipliers, 1-8."""

    width: int = 1
    height: int = 1


@dataclass(frozen=True, slots=True)
class SetBold(Command):
    on: bool = False


@dataclass(frozen=True, slots=True)
class SetUnderline(Command):
    dots: int = 0  # 0 off, 1 or 2 dots thick


@dataclass(frozen=True, slots=True)
class SetFont(Command):
    font: int = 0  # 0 font A (12x24), 1 font B (9x17)


@dataclass(frozen=True, slots=True)
class SetReverse(Command):
    """GS B: white on black."""

    on: bool = False


@dataclass(frozen=True, slots=True)
class SetLineSpacing(Command):
    dots: int | None = None  # None = default (ESC 2)


@dataclass(frozen=True, slots=True)
class SetLeftMargin(Command):
    dots: int = 0


@dataclass(frozen=True, slots=True)
class SetPrintWidth(Command):
    dots: int = 0


@dataclass(frozen=True, slots=True)
class SetUpsideDown(Command):
    """ESC { n: lines print rotated 180 degrees (the paper comes out upside down)."""

    on: bool = False


@dataclass(frozen=True, slots=True)
class SetRotate90(Command):
    """ESC V n: characters rotated 90 degrees clockwise."""

    on: bool = False


@dataclass(frozen=True, slots=True)
class SetCharSpacing(Command):
    """ESC SP n: n dots of space after each character (times the width multiplier)."""

    dots: int = 0


@dataclass(frozen=True, slots=True)
class SetTabStops(Command):
    """ESC D n1 ... nk NUL: tab stops at these character columns (none: HT does nothing)."""

    columns: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MovePosition(Command):
    """ESC $ (absolute, from the left of the print area) or ESC \\ (relative, signed) in dots."""

    dots: int = 0
    relative: bool = False


@dataclass(frozen=True, slots=True)
class CodePage(Command):
    """ESC t n: the table used for bytes 0x80-0xFF."""

    page: int = 0


@dataclass(frozen=True, slots=True)
class SetKanjiMode(Command):
    """FS & / FS .: Chinese printers decode double-byte (GB18030) text while it is on."""

    on: bool = False


@dataclass(frozen=True, slots=True)
class Cut(Command):
    """GS V (and the obsolete ESC i / ESC m). Ends the current job."""

    partial: bool = False
    feed: int = 0


@dataclass(frozen=True, slots=True)
class RasterImage(Command):
    """GS v 0: `width_bytes` * 8 dots wide, `height` dots high; bit 1 = black, MSB leftmost."""

    mode: int = 0  # bit0 double width, bit1 double height
    width_bytes: int = 0
    height: int = 0
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class ColumnImage(Command):
    """ESC * m: one band of `columns` columns, 8 or 24 dots high, MSB at the top."""

    mode: int = 0
    columns: int = 0
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class GraphicsStore(Command):
    """GS ( L / GS 8 L fn 112: raster graphics stored in the print buffer (printed by GraphicsPrint)."""

    width: int = 0
    height: int = 0
    scale_x: int = 1
    scale_y: int = 1
    data: bytes = field(default=b"", repr=False)
    colour: int = 1  # 1-4: the plane it fills (two-colour printers print colour 2 in red)
    tone: int = 48  # 48 monochrome (one bit per dot), 52 multiple tone


@dataclass(frozen=True, slots=True)
class GraphicsPrint(Command):
    """GS ( L fn 50."""


@dataclass(frozen=True, slots=True)
class QrModel(Command):
    model: int = 2  # 1, 2 or 3 (micro)


@dataclass(frozen=True, slots=True)
class QrSize(Command):
    module: int = 3  # dots per module


@dataclass(frozen=True, slots=True)
class QrEcc(Command):
    level: str = "L"  # L, M, Q or H


@dataclass(frozen=True, slots=True)
class QrStore(Command):
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class QrPrint(Command):
    pass


@dataclass(frozen=True, slots=True)
class Symbol2DModuleSize(Command):
    """GS ( k fn 67 for PDF417 (0x30), MaxiCode (0x32), Aztec (0x35), DataMatrix (0x36)."""

    symbol: int = 0x30
    module: int = 3


@dataclass(frozen=True, slots=True)
class Symbol2DStore(Command):
    """GS ( k fn 80: the data of the next symbol of that kind."""

    symbol: int = 0x30
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Symbol2DPrint(Command):
    """GS ( k fn 81: print the stored symbol."""

    symbol: int = 0x30


@dataclass(frozen=True, slots=True)
class SetBarcodeHeight(Command):
    dots: int = 162


@dataclass(frozen=True, slots=True)
class SetBarcodeWidth(Command):
    module: int = 3


@dataclass(frozen=True, slots=True)
class SetBarcodeTextPosition(Command):
    position: int = 0  # 0 none, 1 above, 2 below, 3 both


@dataclass(frozen=True, slots=True)
class Barcode(Command):
    """GS k: system m (0-6 NUL-terminated form, 65-79 counted form) and its data."""

    system: int = 0
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class CashDrawer(Command):
    pin: int = 2
    on_ms: int = 0
    off_ms: int = 0


@dataclass(frozen=True, slots=True)
class StatusRequest(Command):
    """DLE EOT n (real-time, answered the moment it arrives) or GS r n (answered in turn)."""

    command: Literal["DLE EOT", "GS r"] = "DLE EOT"
    n: int = 1


@dataclass(frozen=True, slots=True)
class AutoStatusBack(Command):
    """GS a n: which changes the printer reports by itself (0 = none)."""

    mask: int = 0


@dataclass(frozen=True, slots=True)
class Other(Command):
    """A command this simulator knows but that changes nothing it renders (beeper, page mode...)."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class Unknown(Command):
    """Bytes that are no command this simulator knows: skipped and counted."""


@dataclass(frozen=True, slots=True)
class Truncated(Command):
    """A command cut off by the end of the stream (only emitted by `Parser.close`)."""
