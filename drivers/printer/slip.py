"""The slips the agent prints, built as ESC/POS bytes (pure: no I/O, no clock).

python-escpos's generator side does the encoding (text and code pages, native QR, QR as an image
through the qrcode library, cuts) on a Dummy printer whose `.output` we take. Both libraries (with
Pillow and python-escpos's printer database, ~15 MiB) are imported on the first slip, not with
this module: an idle daemon never needs them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from escpos.constants import QR_ECLEVEL_H, QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q  # plain constants: light

from drivers.addresses import display_address
from drivers.printer.profile import PrinterProfile

INITIALISE = b"\x1b@"
CHINESE_MODE_ON = b"\x1c&"
_ESCPOS_EC = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}
_ELLIPSIS = "..."


@dataclass(frozen=True, slots=True)
class ActivationSlip:
    store_name: str
    url: str
    instructions: tuple[str, ...] = (
        "Scan with Alipay to get your membership card.",
        "Open Alipay, tap Scan, point at the code.",
    )
    footer: str = ""


@dataclass(frozen=True, slots=True)
class SelfTestSlip:
    printer: str  # the address as the technician gave it; kept (and so printed and previewed) password-masked
    qr_text: str  # what scanning the QR back must read
    status: str = "unknown"
    extra_lines: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "printer", display_address(self.printer))


@dataclass(frozen=True, slots=True)
class Receipt:
    """Whatever the till asks to print: an optional title, lines of text, an optional QR, a cut."""

    lines: tuple[str, ...] = ()
    title: str = ""
    qr: str = ""
    cut: bool = True


class SlipError(ValueError):
    """The slip cannot be built as asked (empty URL, QR data too long for the paper...)."""


def activation_slip(slip: ActivationSlip, profile: PrinterProfile) -> bytes:
    if not slip.url.strip():
        raise SlipError("the activation URL is empty")
    out = _Builder(profile)
    out.title(slip.store_name)
    for line in slip.instructions:
        out.paragraph(line)
    out.feed()
    out.qr(slip.url)
    out.small(human_url(slip.url, profile.chars_per_line))
    if slip.footer:
        out.paragraph(slip.footer)
    return out.cut()


def self_test_slip(slip: SelfTestSlip, profile: PrinterProfile) -> bytes:
    out = _Builder(profile)
    out.title("POS Agent test print")
    qr_path = "native (GS ( k)" if profile.native_qr else "image"
    for line in (
        f"printer: {slip.printer}",
        f"status: {slip.status}",
        f"paper: {profile.paper_mm} mm, {profile.chars_per_line} columns",
        f"QR: {qr_path}, code page: {profile.code_page}",
        *slip.extra_lines,
        "0123456789" * (profile.chars_per_line // 10),
    ):
        out.left(line)
    out.feed()
    out.paragraph("Scan this code back with posagent scan-test:")
    out.qr(slip.qr_text)
    out.small(slip.qr_text)
    return out.cut()


def receipt(slip: Receipt, profile: PrinterProfile) -> bytes:
    if not (slip.lines or slip.title or slip.qr):
        raise SlipError("nothing to print")
    out = _Builder(profile)
    if slip.title:
        out.title(slip.title)
    for line in slip.lines:
        if line.strip():
            out.left(line)
        else:
            out.feed()
    if slip.qr:
        out.feed()
        out.qr(slip.qr)
    return out.cut() if slip.cut else out.finish()


def human_url(url: str, max_chars: int) -> str:
    """The URL as a person reads it: no scheme, no 'www.', cut with '...' to fit one line."""
    parts = urlsplit(url.strip())
    text = (parts.netloc or "") + parts.path if parts.netloc else url.strip()
    text = text.removeprefix("www.").rstrip("/")
    if parts.query or parts.fragment:
        text += _ELLIPSIS
    if len(text) > max_chars:
        text = text[: max(1, max_chars - len(_ELLIPSIS))].rstrip("/") + _ELLIPSIS
    return text


def qr_module_size(data: str, profile: PrinterProfile) -> int:
    """The profile's module size, shrunk so the symbol (with its quiet zone) fits the paper."""
    modules = qr_modules(data, profile.qr_error_level) + 2  # python-escpos draws a 1-module border
    size = min(profile.qr_module_dots, profile.width_dots // modules)
    if size < 2:  # one-dot modules do not scan off thermal paper
        raise SlipError(f"QR data of {len(data)} characters is too long for {profile.paper_mm} mm paper")
    return size


def qr_modules(data: str, error_level: str) -> int:
    """Modules per side of the smallest QR symbol for `data` (the version only: no masks tried)."""
    import qrcode  # noqa: PLC0415 - loads Pillow: only when a slip is built
    from qrcode.exceptions import DataOverflowError  # noqa: PLC0415

    levels = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
              "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}  # fmt: skip
    code = qrcode.QRCode(version=None, error_correction=levels[error_level])
    code.add_data(data)
    try:
        version = int(code.best_fit())
    except (ValueError, DataOverflowError) as exc:  # qrcode says "version 41" or overflow
        raise SlipError(f"QR data of {len(data)} characters is too long for a QR code") from exc
    return 17 + 4 * version


def text_width(text: str) -> int:
    """Columns on paper: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, columns: int) -> list[str]:
    """Word-wrap to `columns` (CJK text breaks anywhere, long words are split).

    A line that fits is kept as written: receipts align columns with runs of spaces.
    """
    if "\n" not in text and text.strip() and text_width(text.rstrip()) <= columns:
        return [text.rstrip()]
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        candidate = (line + token) if line else token.lstrip()
        if text_width(candidate) <= columns:
            line = candidate
            continue
        if line:
            lines.append(line.rstrip())
        line = token.lstrip()
        while text_width(line) > columns:
            cut = _fit(line, columns)
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> Iterable[str]:
    word = ""
    for ch in " ".join(text.split()):
        if ch == " " or text_width(ch) == 2:
            if word:
                yield word
            word = ch if ch == " " else ""
            if ch != " ":
                yield ch
        else:
            word += ch
    if word:
        yield word


def _fit(text: str, columns: int) -> int:
    width = 0
    for index, ch in enumerate(text):
        width += text_width(ch)
        if width > columns:
            return max(1, index)
    return len(text)


class _Builder:
    """A Dummy printer set up for one profile: pinned code page, known paper width."""

    def __init__(self, profile: PrinterProfile) -> None:
        from drivers.printer.escpos_lib import Dummy  # noqa: PLC0415 - loads python-escpos's printer database

        self.profile = profile
        self.printer = Dummy()
        # python-escpos centres images only when the profile knows the paper width in dots.
        self.printer.profile.profile_data["media"]["width"]["pixels"] = profile.width_dots
        self.printer._raw(INITIALISE)
        if profile.chinese:
            self.printer._raw(CHINESE_MODE_ON)
        else:
            try:
                self.printer.charcode(profile.code_page)
                self.printer.text("")  # python-escpos looks the page up when text is first sent
            except (KeyError, ValueError) as exc:
                raise SlipError(f"unknown code page {profile.code_page!r} (e.g. CP437, CP858, GB18030)") from exc

    def _text(self, line: str) -> None:
        if self.profile.chinese:
            self.printer._raw(line.encode("gb18030", errors="replace") + b"\n")
        else:
            self.printer.textln(line)

    def title(self, text: str) -> None:
        self.printer.set(align="center", bold=True, double_width=True, double_height=True)
        for line in wrap(text, self.profile.chars_per_line // 2) or [""]:
            self._text(line)
        self.printer.set(align="center", bold=False, normal_textsize=True)
        self.printer.ln()

    def paragraph(self, text: str) -> None:
        self.printer.set(align="center", bold=False, normal_textsize=True)
        for line in wrap(text, self.profile.chars_per_line):
            self._text(line)

    def left(self, text: str) -> None:
        self.printer.set(align="left", bold=False, normal_textsize=True)
        for line in wrap(text, self.profile.chars_per_line):
            self._text(line)

    def small(self, text: str) -> None:
        self.printer.set(align="center", font="b")
        self._text(text)
        self.printer.set(align="center", font="a")

    def feed(self) -> None:
        self.printer.ln()

    def qr(self, data: str) -> None:
        size = qr_module_size(data, self.profile)
        ec = _ESCPOS_EC[self.profile.qr_error_level]
        native = self.profile.native_qr and len(data.encode()) <= self.profile.max_native_qr_bytes
        self.printer.set(align="center")
        if native:
            self.printer.qr(data, ec=ec, size=size, native=True)
            self.printer.ln()
        else:
            self.printer.qr(data, ec=ec, size=size, native=False, image_arguments={"center": True})

    def cut(self) -> bytes:
        self.printer.ln()
        self.printer.cut()
        return bytes(self.printer.output)

    def finish(self) -> bytes:
        self.printer.ln()
        return bytes(self.printer.output)
