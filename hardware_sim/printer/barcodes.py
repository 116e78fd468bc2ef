"""Barcodes drawn bar by bar: GS k 1-D symbols and the GS ( k 2-D symbols other than QR.

1-D symbols come from `symbologies` (the printer's own encoding rules); GS1 DataBar and the 2-D
symbols (PDF417, DataMatrix, Aztec, MaxiCode) from zxing-cpp's writer, one dot per module scaled
by the module size. Module width (GS w) and height (GS h) are honoured, the human-readable text
(GS H) is printed below and/or above. Data the printer would refuse draws nothing: the reason is
returned as a note for the job.
"""

from __future__ import annotations

import numpy as np
import zxingcpp
from PIL import Image

from hardware_sim.printer.fonts import FONT_CELLS, glyph
from hardware_sim.printer.symbologies import Linear, SymbolError, encode, gtin_check

_NAMES = {
    0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
    72: "CODE93", 73: "CODE128", 74: "GS1-128", 75: "GS1 DataBar Omnidirectional",
    76: "GS1 DataBar Truncated", 77: "GS1 DataBar Limited", 78: "GS1 DataBar Expanded",
}  # fmt: skip
# Wide element of the two-width codes (CODE39, ITF, CODABAR) for GS w = 1..6 (about 2.5 : 1).
_WIDE = {1: 2, 2: 5, 3: 7, 4: 10, 5: 12, 6: 15}


def symbology_name(system: int) -> str:
    return _NAMES.get(system - 65 if 65 <= system <= 71 else system, f"GS k system {system}")


def _text_strip(text: str) -> Image.Image:
    strip = Image.new("1", (max(1, len(text) * FONT_CELLS[0][0]), FONT_CELLS[0][1]), 0)
    for index, char in enumerate(text):
        strip.paste(1, (index * FONT_CELLS[0][0], 0), glyph(char, 0, False))
    return strip


def _bars(symbol: Linear, module: int, height: int) -> Image.Image:
    widths = [
        module if e == "n" else _WIDE.get(module, module * 5 // 2) if e == "w" else int(e) * module
        for e in symbol.elements
    ]
    row = np.zeros(sum(widths), dtype=np.uint8)
    x = 0
    for index, width in enumerate(widths):
        if index % 2 == 0:
            row[x : x + width] = 255
        x += width
    return Image.fromarray(np.tile(row, (height, 1)), "L").convert("1")


def _zxing_matrix(text: str, fmt: zxingcpp.BarcodeFormat, **options: str) -> np.ndarray:
    """The symbol's modules (True = dark), one element per module."""
    try:
        symbol = zxingcpp.create_barcode(text, fmt, **options)
    except (ValueError, RuntimeError) as exc:
        raise SymbolError(str(exc) or type(exc).__name__) from exc
    image = np.asarray(symbol.to_image(scale=1, add_quiet_zones=False))
    return np.asarray(image < 128)


def _databar(system: int, data: bytes) -> tuple[Linear | None, np.ndarray, str]:
    text = data.decode("ascii", errors="replace")
    if system in (75, 76, 77):
        if len(text) != 13 or not text.isdigit():
            raise SymbolError(f"{symbology_name(system)} needs 13 digits")
        gtin = text + gtin_check(text)
        fmt = zxingcpp.BarcodeFormat.DataBarLtd if system == 77 else zxingcpp.BarcodeFormat.DataBar
        matrix = _zxing_matrix("01" + gtin, fmt)
        return None, matrix, f"(01){gtin}"
    matrix = _zxing_matrix(text.replace("{1", ""), zxingcpp.BarcodeFormat.DataBarExp)
    return None, matrix, text.replace("{1", "")


def draw_barcode(
    system: int, data: bytes, module: int, height: int, text_position: int, *, area_width: int
) -> tuple[Image.Image | None, list[str]]:
    """The barcode's ink mask (1 = black) and notes; None when the printer would print nothing.

    Bars wider than `area_width` are not printed (real printers refuse them); a text line wider
    than the area is cut at its edges.
    """
    name = symbology_name(system)
    try:
        if 75 <= system <= 78:
            _, matrix, hri = _databar(system, data)
            row = matrix[matrix.shape[0] // 2]
            bars = Image.fromarray(np.tile(row.astype(np.uint8) * 255, (height, 1)), "L").convert("1")
            bars = bars.resize((bars.width * module, height), Image.Resampling.NEAREST)
            notes: list[str] = []
        else:
            symbol = encode(system, data)
            bars, hri, notes = _bars(symbol, module, height), symbol.hri, list(symbol.notes)
    except SymbolError as exc:
        return None, [f"barcode {name} not printed: {exc}"]
    if bars.width > area_width:
        return None, [f"barcode {name} not printed: {bars.width} dots wide, the print area is {area_width}"]
    parts = [bars]
    if text_position in (1, 3):
        parts.insert(0, _text_strip(hri))
    if text_position in (2, 3):
        parts.append(_text_strip(hri))
    width = min(area_width, max(part.width for part in parts))
    out = Image.new("1", (width, sum(part.height for part in parts)), 0)
    y = 0
    for part in parts:
        out.paste(part, ((width - part.width) // 2, y))
        y += part.height
    return out, [f"barcode {name}: {note}" for note in notes]


_SYMBOLS_2D = {
    0x30: ("PDF417", zxingcpp.BarcodeFormat.PDF417),
    0x32: ("MaxiCode", zxingcpp.BarcodeFormat.MaxiCode),
    0x35: ("Aztec", zxingcpp.BarcodeFormat.Aztec),
    0x36: ("DataMatrix", zxingcpp.BarcodeFormat.DataMatrix),
}


def symbol_2d_name(symbol: int) -> str:
    return _SYMBOLS_2D[symbol][0] if symbol in _SYMBOLS_2D else f"GS ( k symbol {symbol:#04x}"


def draw_2d(symbol: int, data: bytes, module: int) -> tuple[Image.Image | None, list[str]]:
    """A stored GS ( k 2-D symbol (not QR), each module `module` dots square."""
    name = symbol_2d_name(symbol)
    if symbol not in _SYMBOLS_2D:
        return None, [f"{name} not drawn"]
    if not data:
        return None, [f"{name} printed with no stored data: nothing printed"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        matrix = _zxing_matrix(text, _SYMBOLS_2D[symbol][1])
    except SymbolError as exc:
        return None, [f"{name} not printed: {exc}"]
    ink = Image.fromarray(matrix.astype(np.uint8) * 255, "L").convert("1")
    ink = ink.resize((ink.width * module, ink.height * module), Image.Resampling.NEAREST)
    return ink, [f"{name} drawn with zxing-cpp's own layout (rows, columns and error correction chosen by it)"]
