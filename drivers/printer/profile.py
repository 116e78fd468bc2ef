"""Per-printer settings the driver needs: paper width, QR path, code page, drawer pulse (plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Printable width in dots at 203 dpi and characters per line in font A (12 dots wide).
PAPER_DOTS = {58: 384, 80: 576}
QR_ERROR_LEVELS = ("L", "M", "Q", "H")
CHINESE_CODE_PAGE = "GB18030"  # Chinese printers: FS & then double-byte GB18030 text


@dataclass(frozen=True, slots=True)
class PrinterProfile:
    """How to talk to one printer model.

    native_qr: GS ( k (tens of bytes); False forces the image path for clones that print the QR
        data as text instead of a symbol.
    code_page: pinned python-escpos code page name ("CP437", "CP858", ...) or "GB18030" for Chinese
        mode; automatic switching may pick tables a clone does not have.
    answers_status: False for printers that never answer DLE EOT (status disabled, one-way links):
        jobs are then sent without a status check, and their status is recorded as unknown.
    """

    paper_mm: Literal[58, 80] = 80
    native_qr: bool = True
    code_page: str = "CP437"
    qr_module_dots: int = 6
    qr_error_level: Literal["L", "M", "Q", "H"] = "M"
    max_native_qr_bytes: int = 1000  # some clones store < 1021 bytes; longer data goes the image path
    drawer_pin: Literal[2, 5] = 2
    drawer_on_ms: int = 100
    drawer_off_ms: int = 100
    answers_status: bool = True

    def __post_init__(self) -> None:
        if self.paper_mm not in PAPER_DOTS:
            raise ValueError(f"paper_mm must be 58 or 80, got {self.paper_mm!r}")
        if not 1 <= self.qr_module_dots <= 16:
            raise ValueError(f"qr_module_dots must be 1-16, got {self.qr_module_dots!r}")
        if self.qr_error_level not in QR_ERROR_LEVELS:
            raise ValueError(f"qr_error_level must be one of L, M, Q, H, got {self.qr_error_level!r}")
        if self.drawer_pin not in (2, 5):
            raise ValueError(f"drawer_pin must be 2 or 5, got {self.drawer_pin!r}")
        for name in ("drawer_on_ms", "drawer_off_ms"):
            if not 2 <= getattr(self, name) <= 510:
                raise ValueError(f"{name} must be 2-510 ms (ESC p counts 2 ms units), got {getattr(self, name)!r}")

    @property
    def width_dots(self) -> int:
        return PAPER_DOTS[self.paper_mm]

    @property
    def chars_per_line(self) -> int:
        return self.width_dots // 12

    @property
    def chinese(self) -> bool:
        return self.code_page.upper() == CHINESE_CODE_PAGE


def drawer_pulse(profile: PrinterProfile) -> bytes:
    """ESC p m t1 t2: pulse the cash drawer pin for drawer_on_ms, then rest drawer_off_ms."""
    pin = 0 if profile.drawer_pin == 2 else 1
    return bytes([0x1B, 0x70, pin, profile.drawer_on_ms // 2, profile.drawer_off_ms // 2])
