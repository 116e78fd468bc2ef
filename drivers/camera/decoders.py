"""Barcode decoders for camera frames: one small protocol, two implementations.

zxing-cpp is the default: on the zxing photo set it decodes more codes, several times faster,
than zbar (see bench/bench_camera.py). pyzbar (libzbar0) is kept as the alternative.

A still image (`decode`) that gives nothing is read again in other ways; a live stream's frame
(`decode_frame`) only as retry_policy.py allows, so that an idle camera costs one read per frame.

Only the configured symbologies are searched: each extra one costs on every frame (Code128 on top
of QR made a frame 1.7-2.6x slower), and QR alone reads Alipay payment codes (the phone shows
the same code as a QR and as a Code128 barcode) and member cards on slips.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import cv2
from cv2.typing import MatLike

from drivers.camera.retry_policy import StreamRetry, StreamRetryBudget
from drivers.camera.symbologies import DEFAULT_SYMBOLOGIES, SYMBOLOGIES

if TYPE_CHECKING:
    import zxingcpp

Image = MatLike  # grayscale (H, W) or BGR (H, W, 3) uint8, as OpenCV gives them


# Above this many pixels a retry does not upscale: 4x the pixels of a big photo costs more than it finds.
UPSCALE_MAX_PIXELS = 1280 * 720


class Decoder(Protocol):
    name: str

    def decode(self, image: Image) -> list[str]:
        """The texts of all codes found in a still image (empty when none), with every effort."""
        ...

    def decode_frame(self, image: Image) -> list[str]:
        """The same for one frame of a live stream: the next frame comes soon, so effort is rationed."""
        ...


def _half(image: Image) -> Image | None:
    # zxing-cpp downscales only big images itself; a coarse copy also smooths print texture and noise.
    if min(image.shape[:2]) < 64:
        return None
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def _double(image: Image) -> Image | None:
    # Small modules (a code far from the lens, a low-resolution photo) read better with more pixels each.
    if image.shape[0] * image.shape[1] > UPSCALE_MAX_PIXELS:
        return None
    return cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)


# Retries when the first read finds nothing (on a live stream, only as retry_policy.py allows),
# cheapest first: (name, copy of the image, zxing-cpp binarizer). The first that finds a code ends
# the search. Measured on the zxing photo set and on
# degraded synthetic photos (bench/bench_camera.py): each found codes the reads before it missed.
# Inversion (zxing-cpp already tries it), the GlobalHistogram and FixedThreshold binarizers,
# blurring, CLAHE, Otsu and pyzbar found none after these, or cost far more for one or two.
RETRIES: tuple[tuple[str, Callable[[Image], Image | None], str], ...] = (
    ("half size", _half, "LocalAverage"),
    ("double size", _double, "LocalAverage"),
)
# The first this many are cheap (the half-size copy: a quarter to a half of a read; the double-size
# one costs ~13 reads): an idle stream frame gets only these (retry_policy.py).
CHEAP_RETRIES = 1


class ZxingDecoder:
    name = "zxing"

    def __init__(
        self,
        symbologies: Sequence[str] = DEFAULT_SYMBOLOGIES,
        *,
        retry: bool = True,
        clock: Callable[[], float] = time.perf_counter,  # times the reads for the stream's retry budget
    ) -> None:
        import zxingcpp  # noqa: PLC0415 - loads a native library: only when chosen

        self._zxing = zxingcpp
        # One read per frame for all configured formats (zxing-cpp >= 2.3 takes them as a list).
        self._formats = zxingcpp.barcode_formats_from_str(",".join(_formats(symbologies, 0)))
        # Plain: the decoded characters as they are, not zxing's "human readable" escapes (<SOH>).
        self._text_mode = zxingcpp.TextMode.Plain
        self._first = zxingcpp.Binarizer.LocalAverage  # zxing-cpp's default
        self._retries = [(copy, zxingcpp.Binarizer.__members__[b]) for _, copy, b in RETRIES] if retry else []
        self._clock = clock
        self._stream_budget = StreamRetryBudget()

    def decode(self, image: Image) -> list[str]:
        gray = _gray(image)
        texts, _ = self._read(gray, self._first)
        return texts or self._retry(gray, self._retries)

    def decode_frame(self, image: Image) -> list[str]:
        gray = _gray(image)
        started = self._clock()
        # return_errors: also the symbols zxing-cpp located but could not decode, the frames worth a retry.
        texts, located = self._read(gray, self._first)
        self._stream_budget.earn(self._clock() - started)
        if texts or not self._retries:
            return texts
        retry = self._stream_budget.decide(located=located)
        if retry is StreamRetry.NONE:
            return texts
        started = self._clock()
        texts = self._retry(gray, self._retries if retry is StreamRetry.FULL else self._retries[:CHEAP_RETRIES])
        self._stream_budget.spend(retry, self._clock() - started)
        return texts

    def _retry(self, gray: Image, retries: Sequence[tuple[Callable[[Image], Image | None], zxingcpp.Binarizer]]
               ) -> list[str]:  # fmt: skip
        for variant, binarizer in retries:
            copy = variant(gray)
            if copy is not None:
                texts, _ = self._read(copy, binarizer)
                if texts:
                    return texts
        return []

    def _read(self, gray: Image, binarizer: zxingcpp.Binarizer) -> tuple[list[str], bool]:
        """The decoded texts, and whether a symbol was located that could not be decoded."""
        results = self._zxing.read_barcodes(gray, formats=self._formats, text_mode=self._text_mode,
                                            binarizer=binarizer, return_errors=True)  # fmt: skip
        return [r.text for r in results if r.valid], any(not r.valid for r in results)


class PyzbarDecoder:
    name = "pyzbar"

    def __init__(self, symbologies: Sequence[str] = DEFAULT_SYMBOLOGIES) -> None:
        from pyzbar import pyzbar  # noqa: PLC0415 - loads libzbar: only when chosen

        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol[s] for s in _formats(symbologies, 1)]

    def decode(self, image: Image) -> list[str]:
        return [_text(symbol.data) for symbol in self._pyzbar.decode(_gray(image), symbols=self._symbols)]

    def decode_frame(self, image: Image) -> list[str]:
        return self.decode(image)  # one read, no retries: nothing to ration


DECODERS: dict[str, type[ZxingDecoder] | type[PyzbarDecoder]] = {"zxing": ZxingDecoder, "pyzbar": PyzbarDecoder}


def make_decoder(
    name: str = "zxing", symbologies: Sequence[str] = DEFAULT_SYMBOLOGIES, *, retry: bool = True
) -> Decoder:
    """A decoder by name; `retry` (zxing only) reads a frame again in other ways when it gave nothing."""
    if name == "zxing":
        return ZxingDecoder(symbologies, retry=retry)
    if name == "pyzbar":
        return PyzbarDecoder(symbologies)
    raise ValueError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")


def _formats(symbologies: Sequence[str], library: int) -> list[str]:
    unknown = [s for s in symbologies if s not in SYMBOLOGIES]
    if unknown or not symbologies:
        raise ValueError(f"unknown symbology {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(SYMBOLOGIES)}")  # fmt: skip
    return [SYMBOLOGIES[s][library] for s in dict.fromkeys(symbologies)]


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
