"""Draws parsed ESC/POS commands onto paper: one Pillow image per job (pure: no files, no sockets).

The model is a real printer's: characters and column images collect in a line buffer that prints
when a feed comes (LF, ESC d, ESC J), aligned by ESC a inside the print area (GS L / GS W);
raster images, graphics, QR symbols and barcodes print as their own band, aligned the same way.
Modes (sizes, alignment, code page, QR settings) outlive cuts, as they do on paper: only ESC @
resets them. `finish_page()` ends the current page (a cut, or the end of the stream).

Native QR symbols are drawn with the `qrcode` library from the stored data, module size and error
correction, with a 4-module quiet zone (narrowed only if the paper is too narrow), so a decoder
reads them back. Models 1 and micro are drawn as model 2 (noted in `notes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import qrcode
import qrcode.constants
from PIL import Image, ImageDraw

from hardware_sim.printer import commands as c
from hardware_sim.printer.barcodes import draw_2d, draw_barcode, symbol_2d_name
from hardware_sim.printer.codepages import decode
from hardware_sim.printer.fonts import FONT_CELLS, glyph
from hardware_sim.printer.page_mode import PageBuffer

PAPER_WIDTHS = {58: 384, 80: 576}  # printable dots at 203 dpi
DEFAULT_LINE_SPACING = 30
MAX_PAGE_HEIGHT = 60_000  # dots (about 7.5 m of paper): anything beyond is cut off, not drawn
_QR_ECC = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
# ESC * m: (horizontal, vertical) scale of one column dot, at 180/203 dpi.
_COLUMN_SCALE = {0: (2, 3), 1: (1, 3), 32: (2, 1), 33: (1, 1)}


@dataclass
class _Modes:
    align: int = 0
    font: int = 0
    bold: bool = False
    underline: int = 0
    reverse: bool = False
    width: int = 1
    height: int = 1
    line_spacing: int = DEFAULT_LINE_SPACING
    left_margin: int = 0
    print_width: int | None = None
    code_page: int = 0
    chinese: bool = False
    qr_model: int = 2
    qr_module: int = 3
    qr_ecc: str = "L"
    qr_data: bytes = b""
    symbol_2d_module: dict[int, int] = field(default_factory=lambda: {0x30: 3, 0x35: 3, 0x36: 3, 0x32: 1})
    symbol_2d_data: dict[int, bytes] = field(default_factory=dict)
    barcode_height: int = 162
    barcode_module: int = 3
    barcode_text: int = 0
    upside_down: bool = False
    rotate90: bool = False
    char_spacing: int = 0
    tab_stops: tuple[int, ...] | None = None  # dots; None = every 8 characters (the default)
    graphics: dict[int, Image.Image] = field(default_factory=dict)  # GS ( L colour planes, by colour


@dataclass
class _Piece:
    """Something in the line buffer: an ink mask (1 = black) and how to draw it."""

    mask: Image.Image
    reverse: bool = False


@dataclass
class Page:
    image: Image.Image
    qr_payloads: list[bytes] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inked: bool = False  # anything but blank paper was drawn


# Known commands the renderer draws nothing for. Those not in _HARMLESS change what a printer
# would print, so each one seen is named in the job's notes.
_HARMLESS = {
    "NUL", "CR", "CAN", "DLE ENQ", "DLE DC4", "DLE EOT", "ESC =", "ESC c", "ESC u", "ESC v", "GS I",
    "GS a", "GS r", "GS b", "GS P", "GS g", "GS z", "ESC p", "FS ?",
}  # fmt: skip
_NOT_DRAWN = {
    "ESC r": "ESC r colour selection: everything is printed in black",
    "GS f": "GS f: barcode text is drawn in font A whatever the font selected",
    "ESC R": "ESC R international character set not simulated (the code page's own glyphs are drawn)",
    "ESC &": "user-defined characters (ESC &) not drawn: the standard glyphs are used",
    "ESC %": "user-defined characters (ESC %) not drawn: the standard glyphs are used",
    "ESC ?": "user-defined characters (ESC ?) not drawn",
    "FS p": "NV bit images (FS p) not drawn",
    "FS q": "NV bit images (FS q) not stored or drawn",
    "GS /": "downloaded bit images (GS /) not drawn",
    "GS *": "downloaded bit images (GS *) not stored",
    "GS :": "macros (GS :) not simulated",
    "GS ^": "macros (GS ^) not run",
    "GS T": "GS T (line start) not simulated",
}


class Renderer:
    """Feed it commands with `apply`; `finish_page` returns the page drawn since the last one."""

    def __init__(self, width_dots: int = PAPER_WIDTHS[80], encoding: str | None = None) -> None:
        self.width = width_dots
        self.chinese_always = (encoding or "").lower() in ("gb18030", "gbk", "gb2312")
        self._modes = _Modes()
        self._bands: list[Image.Image] = []
        self._height = 0
        self._line: list[_Piece] = []
        self._line_width = 0
        self._text = bytearray()
        self._qr_payloads: list[bytes] = []
        self._notes: list[str] = []
        self._inked = False
        self._page: PageBuffer | None = None  # set while in page mode (ESC L ... FF / ESC S)

    # -- public -------------------------------------------------------------------------------

    def apply(self, command: c.Command) -> None:
        if isinstance(command, c.Text):
            self._text += command.data
            return
        self._flush_text()
        handler = _HANDLERS.get(type(command))
        if handler is not None:
            handler(self, command)
        elif isinstance(command, c.Other):
            self._other(command)

    @property
    def inked(self) -> bool:
        """Whether anything but blank paper was drawn on the page in progress (pending text included)."""
        self._flush_text()
        return self._inked or any(p.mask.getbbox() is not None for p in self._line)

    def finish_page(self) -> Page:
        self._flush_text()
        if self._line:
            self._print_line(0)
        height = max(1, self._height) + 16
        page = Image.new("1", (self.width, height), 1)
        y = 8
        for band in self._bands:
            page.paste(band, (0, y))
            y += band.height
        result = Page(image=page, qr_payloads=self._qr_payloads, notes=self._notes, inked=self._inked)
        self._bands, self._height, self._qr_payloads, self._notes = [], 0, [], []
        self._inked = False
        return result

    # -- text and the line buffer -----------------------------------------------------------------

    def _flush_text(self) -> None:
        if not self._text:
            return
        text = decode(bytes(self._text), self._modes.code_page, self._modes.chinese or self.chinese_always)
        self._text.clear()
        for char in text:
            if char == "\t":
                self._tab()
            else:
                self._add_char(char)

    def _add_char(self, char: str) -> None:
        m = self._modes
        mask = glyph(char, m.font, m.bold)
        if m.rotate90:
            mask = mask.transpose(Image.Transpose.ROTATE_270)  # 90 degrees clockwise
        if m.char_spacing:
            spaced = Image.new("1", (mask.width + m.char_spacing, mask.height), 0)
            spaced.paste(mask, (0, 0))
            mask = spaced
        if (char.strip() or m.reverse or m.underline) and self._page is None:
            self._inked = True
        if m.width != 1 or m.height != 1:
            mask = mask.resize((mask.width * m.width, mask.height * m.height), Image.Resampling.NEAREST)
        if m.underline:
            mask = mask.copy()
            ImageDraw.Draw(mask).rectangle((0, mask.height - m.underline, mask.width - 1, mask.height - 1), fill=1)
        self._add_piece(_Piece(mask=mask, reverse=m.reverse))

    def _cell_width(self) -> int:
        m = self._modes
        return (FONT_CELLS.get(m.font, FONT_CELLS[0])[0] + m.char_spacing) * m.width

    def _tab(self) -> None:
        """HT: to the next tab stop; at a stop already, or past the last one, it does nothing."""
        stops = self._modes.tab_stops
        position = self._line_width
        if stops is None:
            every = self._cell_width() * 8
            if position and position % every == 0:
                return
            target = (position // every + 1) * every
        else:
            if position in stops:
                return
            later = [stop for stop in stops if stop > position]
            if not later:
                return
            target = later[0]
        if target > self._area_width():
            return
        self._add_piece(_Piece(mask=Image.new("1", (target - position, 1), 0)))

    def _tab_stops(self, command: c.SetTabStops) -> None:
        cell = self._cell_width()
        stops: list[int] = []
        for column in command.columns:
            if stops and column * cell <= stops[-1]:
                break  # Epson: a value not above the previous one ends the list
            stops.append(column * cell)
        self._modes.tab_stops = tuple(stops)

    def _move(self, command: c.MovePosition) -> None:
        self._flush_text()
        target = self._line_width + command.dots if command.relative else command.dots
        if target < self._line_width:
            self._note("ESC $ / ESC \\ moving left (overprinting) not drawn: the position is kept")
            return
        if target > self._area_width():
            return  # outside the print area: ignored, as printers do
        self._add_piece(_Piece(mask=Image.new("1", (target - self._line_width, 1), 0)))

    def _add_piece(self, piece: _Piece) -> None:
        if self._line and self._line_width + piece.mask.width > self._area_width():
            self._print_line(1)  # the printer wraps a full line
        self._line.append(piece)
        self._line_width += piece.mask.width

    def _area_width(self) -> int:
        if self._page is not None:
            return self._page.width
        m = self._modes
        usable = self.width - m.left_margin
        return max(1, min(usable, m.print_width or usable))

    def _print_line(self, lines: int, dots: int = 0) -> None:
        """Print the line buffer, then feed `lines` lines or `dots` dots (at least the line's height)."""
        content_height = max((p.mask.height for p in self._line), default=0)
        feed = lines * self._modes.line_spacing + dots
        band_height = max(content_height, feed)
        if band_height <= 0:
            self._line, self._line_width = [], 0
            return
        band = Image.new("1", (self.width, band_height), 1)
        x = self._aligned_x(self._line_width)
        for piece in self._line:
            top = content_height - piece.mask.height  # characters of mixed sizes share a baseline
            if piece.reverse:
                band.paste(0, (x, top, x + piece.mask.width, top + piece.mask.height))
                band.paste(1, (x, top), piece.mask)
            else:
                band.paste(0, (x, top), piece.mask)
            x += piece.mask.width
        self._line, self._line_width = [], 0
        if self._modes.upside_down and self._page is None:
            band = band.transpose(Image.Transpose.ROTATE_180)
        self._add_band(band)

    def _aligned_x(self, content_width: int) -> int:
        m = self._modes
        slack = max(0, self._area_width() - content_width)
        return (0 if self._page is not None else m.left_margin) + (0, slack // 2, slack)[m.align]

    def _add_band(self, band: Image.Image) -> None:
        if self._page is not None:
            self._page.place(band)
            return
        if self._height + band.height > MAX_PAGE_HEIGHT:
            if "page too long: cut off" not in self._notes:
                self._notes.append("page too long: cut off")
            return
        self._bands.append(band)
        self._height += band.height

    def _note(self, note: str) -> None:
        if note not in self._notes:
            self._notes.append(note)

    def _add_block(self, ink: Image.Image) -> None:
        """A band holding one image (1 = ink), aligned in the print area; flushes the line first."""
        if self._line:
            self._print_line(0)
        ink = ink.crop((0, 0, min(ink.width, self._area_width()), ink.height))
        if ink.getbbox() is not None and self._page is None:
            self._inked = True
        if self._modes.upside_down and self._page is None:
            self._note("upside-down mode: images, barcodes and QR codes are drawn upright")
        band = Image.new("1", (self.width, ink.height), 1)
        band.paste(0, (self._aligned_x(ink.width), 0), ink)
        self._add_band(band)

    # -- command handlers ------------------------------------------------------------------------

    def _init(self, _: c.Init) -> None:
        self._leave_page_mode()
        self._modes = _Modes()

    def _leave_page_mode(self) -> None:
        if self._page is not None and (self._page.inked or self._line):
            self._note("page mode data discarded without being printed (no FF before ESC S / ESC @)")
        if self._page is not None:
            self._line, self._line_width = [], 0
        self._page = None

    def _print_page(self) -> None:
        assert self._page is not None
        if self._line:
            self._print_line(0)
        page = self._page
        self._page = None  # the page's band goes onto the paper, not back into the page
        if page.inked:
            self._inked = True
            self._add_band(page.render())
        self._page = page

    def _page_command(self, command: c.Other) -> bool:
        """Page mode commands; False when `command` is none (or page mode is off)."""
        name, raw = command.name, command.raw
        if name == "ESC L":
            if self._page is None:
                if self._line:
                    self._print_line(0)
                self._page = PageBuffer(self.width)
                self._note("page mode: lines are placed by their top at the vertical position (Epson: by the baseline)")
            return True
        page = self._page
        if page is None:
            return name in ("ESC S", "ESC FF", "FF", "ESC W", "ESC T", "GS $", "GS \\")  # no effect outside
        if name == "ESC W" and len(raw) >= 10:
            self._flush_text()
            self._line, self._line_width = [], 0
            page.set_area(*(raw[i] | raw[i + 1] << 8 for i in (2, 4, 6, 8)))
        elif name == "ESC T":
            page.set_direction(raw[2] & 3 if raw[2] < 0x30 else (raw[2] - 0x30) & 3)
        elif name == "GS $":
            page.y = raw[2] | raw[3] << 8
        elif name == "GS \\":
            offset = raw[2] | raw[3] << 8
            page.y = max(0, page.y + (offset - 65536 if offset >= 32768 else offset))
        elif name in ("FF", "ESC FF"):
            self._print_page()
            if name == "FF":
                self._page = None
        elif name == "ESC S":
            self._leave_page_mode()
        elif name == "CAN":
            self._line, self._line_width = [], 0
            page.clear()
        else:
            return False
        return True

    def _upside_down(self, command: c.SetUpsideDown) -> None:
        self._modes.upside_down = command.on

    def _rotate90(self, command: c.SetRotate90) -> None:
        self._modes.rotate90 = command.on

    def _char_spacing(self, command: c.SetCharSpacing) -> None:
        self._modes.char_spacing = command.dots

    def _other(self, command: c.Other) -> None:
        name = command.name
        if self._page_command(command) or name in _HARMLESS:
            return
        if name.startswith("GS ( k"):
            self._note(f"{name} (2-D symbol setting) not simulated")
            return
        if name in ("ESC r", "ESC R", "GS f") and command.raw[-1] in (0, 0x30):
            return  # back to the default: nothing to say
        self._note(_NOT_DRAWN.get(name, f"{name} not simulated: nothing drawn for it"))

    def _feed(self, command: c.Feed) -> None:
        self._print_line(command.lines, command.dots)

    def _align(self, command: c.SetAlign) -> None:
        self._modes.align = command.align

    def _print_mode(self, command: c.SetPrintMode) -> None:
        m, mode = self._modes, command.mode
        m.font = mode & 0x01
        m.bold = bool(mode & 0x08)
        m.height = 2 if mode & 0x10 else 1
        m.width = 2 if mode & 0x20 else 1
        m.underline = 1 if mode & 0x80 else 0

    def _char_size(self, command: c.SetCharSize) -> None:
        self._modes.width, self._modes.height = command.width, command.height

    def _bold(self, command: c.SetBold) -> None:
        self._modes.bold = command.on

    def _underline(self, command: c.SetUnderline) -> None:
        self._modes.underline = command.dots

    def _font(self, command: c.SetFont) -> None:
        self._modes.font = command.font

    def _reverse(self, command: c.SetReverse) -> None:
        self._modes.reverse = command.on

    def _line_spacing(self, command: c.SetLineSpacing) -> None:
        self._modes.line_spacing = DEFAULT_LINE_SPACING if command.dots is None else command.dots

    def _left_margin(self, command: c.SetLeftMargin) -> None:
        self._modes.left_margin = min(command.dots, self.width - 1)

    def _print_width(self, command: c.SetPrintWidth) -> None:
        self._modes.print_width = command.dots or None

    def _code_page(self, command: c.CodePage) -> None:
        self._modes.code_page = command.page

    def _kanji(self, command: c.SetKanjiMode) -> None:
        self._modes.chinese = command.on

    def _cut(self, command: c.Cut) -> None:
        self._print_line(0, command.feed)

    def _raster(self, command: c.RasterImage) -> None:
        if not command.width_bytes or not command.height:
            return
        # Pillow's "1" raw mode reads bit 1 as 255: with ESC/POS bits (1 = black) that is the ink mask.
        size = (command.width_bytes * 8, command.height)
        ink = Image.frombytes("1", size, command.data[: command.width_bytes * command.height])
        if command.mode & 1:
            ink = ink.resize((ink.width * 2, ink.height), Image.Resampling.NEAREST)
        if command.mode & 2:
            ink = ink.resize((ink.width, ink.height * 2), Image.Resampling.NEAREST)
        self._add_block(ink)

    def _column(self, command: c.ColumnImage) -> None:
        if not command.columns:
            return
        dots = 24 if command.mode in (32, 33) else 8
        bits = np.unpackbits(np.frombuffer(command.data, dtype=np.uint8))
        grid = bits.reshape(command.columns, dots).T  # rows = dots, MSB of the first byte on top
        ink = Image.fromarray((grid * 255).astype(np.uint8), "L").convert("1")
        sx, sy = _COLUMN_SCALE.get(command.mode, (1, 1))
        if (sx, sy) != (1, 1):
            ink = ink.resize((ink.width * sx, ink.height * sy), Image.Resampling.NEAREST)
        self._inked = self._inked or (ink.getbbox() is not None and self._page is None)
        self._add_piece(_Piece(mask=ink))

    def _graphics_store(self, command: c.GraphicsStore) -> None:
        row_bytes = (command.width + 7) // 8
        if not command.width or not command.height or len(command.data) < row_bytes * command.height:
            self._note("graphics with missing data ignored")
            return
        image = Image.frombytes("1", (row_bytes * 8, command.height), command.data[: row_bytes * command.height])
        ink = image.crop((0, 0, command.width, command.height))
        if (command.scale_x, command.scale_y) != (1, 1):
            size = (ink.width * command.scale_x, ink.height * command.scale_y)
            ink = ink.resize(size, Image.Resampling.NEAREST)
        if command.tone != 48:
            self._note("GS ( L multiple-tone graphics printed as one black plane per colour")
        self._modes.graphics[command.colour] = ink  # each colour is its own plane: storing one keeps the others

    def _graphics_print(self, _: c.GraphicsPrint) -> None:
        """Every stored plane prints, superimposed; a mono printer prints them all in black."""
        planes = self._modes.graphics
        if not planes:
            return
        width, height = max(p.width for p in planes.values()), max(p.height for p in planes.values())
        ink = Image.new("1", (width, height), 0)
        for plane in planes.values():
            ink.paste(1, (0, 0), plane)
        others = sorted(colour for colour in planes if colour != 1)
        if others:
            names = ", ".join(str(colour) for colour in others)
            self._note(
                f"GS ( L colour {names} printed in black, superimposed on colour 1 (a two-colour printer prints it red)"
            )
        self._modes.graphics = {}
        self._add_block(ink)

    def _qr_model(self, command: c.QrModel) -> None:
        self._modes.qr_model = command.model

    def _qr_size(self, command: c.QrSize) -> None:
        self._modes.qr_module = command.module

    def _qr_ecc(self, command: c.QrEcc) -> None:
        self._modes.qr_ecc = command.level

    def _qr_store(self, command: c.QrStore) -> None:
        self._modes.qr_data = command.data

    def _qr_print(self, _: c.QrPrint) -> None:
        m = self._modes
        if not m.qr_data:
            return
        if m.qr_model != 2:
            self._notes.append(f"QR model {m.qr_model} drawn as model 2")
        qr = qrcode.QRCode(error_correction=_QR_ECC[m.qr_ecc], border=0)
        try:
            qr.add_data(m.qr_data, optimize=0)
            qr.make(fit=True)
        except (ValueError, qrcode.exceptions.DataOverflowError) as exc:
            self._notes.append(f"QR not printed: {type(exc).__name__}")
            return
        self._qr_payloads.append(m.qr_data)
        modules = np.array(qr.get_matrix(), dtype=np.uint8)
        side = modules.shape[0]
        border = max(0, min(4, (self._area_width() // m.qr_module - side) // 2))
        padded = np.pad(modules, border)
        ink = Image.fromarray(padded * 255, "L").convert("1")
        scaled = ink.resize((ink.width * m.qr_module, ink.height * m.qr_module), Image.Resampling.NEAREST)
        self._add_block(scaled)

    def _barcode_height(self, command: c.SetBarcodeHeight) -> None:
        if command.dots < 1:
            self._note("GS h 0 is out of range (1-255): ignored")
            return
        self._modes.barcode_height = command.dots

    def _barcode_width(self, command: c.SetBarcodeWidth) -> None:
        if not 1 <= command.module <= 6:
            self._note(f"GS w {command.module} is out of range (1-6): ignored, as printers do")
            return
        self._modes.barcode_module = command.module

    def _barcode_text(self, command: c.SetBarcodeTextPosition) -> None:
        self._modes.barcode_text = command.position

    def _barcode(self, command: c.Barcode) -> None:
        m = self._modes
        area = self._area_width()
        ink, notes = draw_barcode(
            command.system, command.data, m.barcode_module, m.barcode_height, m.barcode_text, area_width=area
        )
        for note in notes:
            self._note(note)
        if ink is not None:
            self._add_block(ink)

    def _symbol_2d_module(self, command: c.Symbol2DModuleSize) -> None:
        self._modes.symbol_2d_module[command.symbol] = command.module

    def _symbol_2d_store(self, command: c.Symbol2DStore) -> None:
        self._modes.symbol_2d_data[command.symbol] = command.data

    def _symbol_2d_print(self, command: c.Symbol2DPrint) -> None:
        data = self._modes.symbol_2d_data.get(command.symbol, b"")
        ink, notes = draw_2d(command.symbol, data, self._modes.symbol_2d_module.get(command.symbol, 3))
        for note in notes:
            self._note(note)
        if ink is not None:
            self._add_fitting_block(ink, symbol_2d_name(command.symbol))

    def _add_fitting_block(self, ink: Image.Image, what: str) -> None:
        """Real printers do not print a symbol wider than the print area: neither do we, and say so."""
        if ink.width > self._area_width():
            self._notes.append(f"{what} not printed: {ink.width} dots wide, the print area is {self._area_width()}")
            return
        self._add_block(ink)


_HANDLERS: dict[type[c.Command], Callable[[Renderer, Any], None]] = {
    c.Init: Renderer._init,
    c.Feed: Renderer._feed,
    c.SetAlign: Renderer._align,
    c.SetPrintMode: Renderer._print_mode,
    c.SetCharSize: Renderer._char_size,
    c.SetBold: Renderer._bold,
    c.SetUnderline: Renderer._underline,
    c.SetFont: Renderer._font,
    c.SetReverse: Renderer._reverse,
    c.SetLineSpacing: Renderer._line_spacing,
    c.SetLeftMargin: Renderer._left_margin,
    c.SetPrintWidth: Renderer._print_width,
    c.CodePage: Renderer._code_page,
    c.SetKanjiMode: Renderer._kanji,
    c.SetUpsideDown: Renderer._upside_down,
    c.SetRotate90: Renderer._rotate90,
    c.SetCharSpacing: Renderer._char_spacing,
    c.SetTabStops: Renderer._tab_stops,
    c.MovePosition: Renderer._move,
    c.Cut: Renderer._cut,
    c.RasterImage: Renderer._raster,
    c.ColumnImage: Renderer._column,
    c.GraphicsStore: Renderer._graphics_store,
    c.GraphicsPrint: Renderer._graphics_print,
    c.QrModel: Renderer._qr_model,
    c.QrSize: Renderer._qr_size,
    c.QrEcc: Renderer._qr_ecc,
    c.QrStore: Renderer._qr_store,
    c.QrPrint: Renderer._qr_print,
    c.SetBarcodeHeight: Renderer._barcode_height,
    c.SetBarcodeWidth: Renderer._barcode_width,
    c.SetBarcodeTextPosition: Renderer._barcode_text,
    c.Barcode: Renderer._barcode,
    c.Symbol2DModuleSize: Renderer._symbol_2d_module,
    c.Symbol2DStore: Renderer._symbol_2d_store,
    c.Symbol2DPrint: Renderer._symbol_2d_print,
}
