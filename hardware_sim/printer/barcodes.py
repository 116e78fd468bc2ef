"""1-D barcodes (GS k) drawn bar by bar from python-barcode's module patterns.

Module width (GS w) and height (GS h) are honoured, the human-readable text (GS H) is printed
below and/or above. Data the symbology cannot encode is drawn as a box with its text, as a
placeholder, and noted: the job still renders.
"""

from __future__ import annotations

import barcode  # type: ignore[import-untyped]
import barcode.errors  # type: ignore[import-untyped]
from PIL import Image, ImageDraw

from hardware_sim.printer.fonts import FONT_CELLS, glyph

# GS k system number (NUL-terminated form 0-6, counted form 65-79) -> python-barcode name.
_SYSTEMS: dict[int, str] = {
    0: "upca",
    65: "upca",
    2: "ean13",
    67: "ean13",
    3: "ean8",
    68: "ean8",
    4: "code39",
    69: "code39",
    5: "itf",
    70: "itf",
    6: "codabar",
    71: "codabar",
    73: "code128",
}
_NAMES = {
    1: "UPC-E",
    66: "UPC-E",
    72: "CODE93",
    74: "GS1-128",
    75: "GS1 DataBar",
    76: "GS1 DataBar",
    77: "GS1 DataBar",
    78: "GS1 DataBar",
    79: "GS1 DataBar",
}


def _pattern(system: int, text: str) -> str | None:
    name = _SYSTEMS.get(system)
    if name is None:
        return None
    if name == "code128":
        # ESC/POS CODE128 data starts with code-set selectors ({A, {B, {C); python-barcode picks its own.
        text = text.replace("{A", "").replace("{B", "").replace("{C", "").replace("{{", "{")
    if name in ("upca", "ean13", "ean8") and text.isdigit():
        text = text[: {"upca": 11, "ean13": 12, "ean8": 7}[name]]  # the check digit is recomputed
    if name == "code39":
        text = text.strip("*")
    try:
        return "".join(barcode.get(name, text).build())
    except (barcode.errors.BarcodeError, ValueError, KeyError, IndexError, TypeError):
        return None


def _text_strip(text: str) -> Image.Image:
    strip = Image.new("1", (max(1, len(text) * FONT_CELLS[1][0]), FONT_CELLS[1][1]), 0)
    for index, char in enumerate(text):
        strip.paste(1, (index * FONT_CELLS[1][0], 0), glyph(char, 1, False))
    return strip


def draw_barcode(system: int, data: bytes, module: int, height: int, text_position: int) -> tuple[Image.Image, str]:
    """The barcode's ink mask (1 = black), and a note when it could only be drawn as a placeholder."""
    text = data.decode("ascii", errors="replace")
    pattern = _pattern(system, text)
    note = ""
    if pattern:
        bars = Image.new("1", (len(pattern) * module, height), 0)
        draw = ImageDraw.Draw(bars)
        for index, bit in enumerate(pattern):
            if bit == "1":
                draw.rectangle((index * module, 0, (index + 1) * module - 1, height - 1), fill=1)
    else:
        name = _NAMES.get(system, _SYSTEMS.get(system, f"system {system}"))
        note = f"barcode {name} drawn as a placeholder box"
        bars = Image.new("1", (max(60, len(text) * 12), height), 0)
        ImageDraw.Draw(bars).rectangle((0, 0, bars.width - 1, height - 1), outline=1)
    parts = [bars]
    if text_position in (1, 3):
        parts.insert(0, _text_strip(text))
    if text_position in (2, 3) or not pattern:
        parts.append(_text_strip(text))
    width = max(part.width for part in parts)
    out = Image.new("1", (width, sum(part.height for part in parts)), 0)
    y = 0
    for part in parts:
        out.paste(part, ((width - part.width) // 2, y))
        y += part.height
    return out, note
