"""Glyph bitmaps for the printer's resident fonts (font A 12x24, font B 9x17), drawn once and cached.

A receipt printer's fonts are fixed-cell bitmaps; we draw each character from a monospaced TrueType
font into that cell. Larger sizes are integer scalings of the cell (as the printer does), never a
bigger font. Wide (CJK) characters take two cells. Without any usable font the glyph is a box, so
rendering never fails for lack of fonts.
"""

from __future__ import annotations

import glob
import unicodedata
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

# (cell width, cell height, TrueType pixel size) per font number: 0 = font A, 1 = font B.
FONT_CELLS: dict[int, tuple[int, int, int]] = {0: (12, 24, 20), 1: (9, 17, 15)}

_MONO_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
)
_CJK_FONT_PATTERNS = (
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/usr/share/fonts/**/wqy*.tt[cf]",
    "/usr/share/fonts/**/DroidSansFallback*.ttf",
    "/usr/share/ghostscript/*/Resource/CIDFSubst/DroidSansFallback.ttf",
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _load(size: int, cjk: bool) -> Font | None:
    paths: list[str] = []
    if cjk:
        for pattern in _CJK_FONT_PATTERNS:
            paths.extend(sorted(glob.glob(pattern, recursive=True)))
    else:
        paths.extend(_MONO_FONTS)
    for path in paths:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return None


def is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


@lru_cache(maxsize=4096)
def glyph(char: str, font: int, bold: bool) -> Image.Image:
    """The 1-bit mask of `char` in its cell (1 = ink), at size 1x1."""
    cell_w, cell_h, px = FONT_CELLS.get(font, FONT_CELLS[0])
    wide = is_wide(char)
    width = cell_w * 2 if wide else cell_w
    mask = Image.new("1", (width, cell_h), 0)
    if char.isspace() or not char.isprintable():
        return mask
    draw = ImageDraw.Draw(mask)
    face = _load(px, cjk=wide)
    if face is None:
        draw.rectangle((1, 2, width - 2, cell_h - 3), outline=1)  # a "tofu" box: no font for it
        return mask
    top = (cell_h - px) // 2 - 1
    for dx in (0, 1) if bold else (0,):
        draw.text((dx, top), char, fill=1, font=face)
    return mask
