"""Barcode decoders for camera frames: one small protocol, two implementations.

zxing-cpp is the default: on the zxing photo set it decodes more codes, several times faster,
than zbar (see bench/bench_scanning.py). pyzbar (libzbar0) is kept as the alternative.
"""

from __future__ import annotations

from typing import Protocol

import cv2
from cv2.typing import MatLike

Image = MatLike  # grayscale (H, W) or BGR (H, W, 3) uint8, as OpenCV gives them


class Decoder(Protocol):
    name: str

    def decode(self, image: Image) -> list[str]:
        """The texts of all codes found in the image (empty when none)."""
        ...


class ZxingDecoder:
    name = "zxing"

    def __init__(self, formats: tuple[str, ...] = ("QRCode", "Code128")) -> None:
        import zxingcpp  # noqa: PLC0415 - loads a native library: only when chosen

        self._zxing = zxingcpp
        # zxing-cpp >= 2.3 takes a list of formats; the `|` operator is deprecated.
        self._formats = zxingcpp.barcode_formats_from_str(",".join(formats))
        # Plain: the decoded characters as they are, not zxing's "human readable" escapes (<SOH>).
        self._text_mode = zxingcpp.TextMode.Plain

    def decode(self, image: Image) -> list[str]:
        results = self._zxing.read_barcodes(_gray(image), formats=self._formats, text_mode=self._text_mode)
        return [r.text for r in results if r.valid]


class PyzbarDecoder:
    name = "pyzbar"

    def __init__(self, formats: tuple[str, ...] = ("QRCODE", "CODE128")) -> None:
        from pyzbar import pyzbar  # noqa: PLC0415 - loads libzbar: only when chosen

        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol[f] for f in formats]

    def decode(self, image: Image) -> list[str]:
        return [_text(symbol.data) for symbol in self._pyzbar.decode(_gray(image), symbols=self._symbols)]


DECODERS: dict[str, type[ZxingDecoder] | type[PyzbarDecoder]] = {"zxing": ZxingDecoder, "pyzbar": PyzbarDecoder}


def make_decoder(name: str = "zxing") -> Decoder:
    try:
        return DECODERS[name]()
    except KeyError:
        raise ValueError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}") from None


def _gray(image: Image) -> Image:
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _text(data: bytes) -> str:
    # zbar hands out UTF-8 (it converts legacy encodings itself); be safe with anything else.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
