"""A frame the first read finds nothing in is read again in other ways, and only then.

The retries (a half-size copy, then a double-size copy) stop at the first that finds
a code. On the zxing photo set they make the decoder find more than zxing-cpp or zbar alone.
A still image is always retried; a live stream's frame only when zxing-cpp located a symbol it
could not decode, or now and then within a small budget (test_retry_policy.py), so an idle
camera costs no more than one read per frame.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np
import pytest
import zxingcpp
from pyzbar import pyzbar

from drivers.camera.decoders import ZxingDecoder, make_decoder
from hardware_sim.camera import Scene, render
from tests.drivers.camera.photos import PHOTO_DIR, expected_text, photos, same_text
from tests.drivers.camera.ticks import Ticks
from tests.drivers.camera.zxing_spy import ReadSpy

QR = zxingcpp.barcode_formats_from_str("QRCode")


def zxing_alone(image: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=QR, text_mode=zxingcpp.TextMode.Plain) if r.valid]


def zbar_alone(image: np.ndarray) -> list[str]:
    return [s.data.decode("utf-8", "replace") for s in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])]


@functools.cache
def photos_decoded(name: str) -> frozenset[str]:
    decode: Callable[[np.ndarray], list[str]] = {"zxing alone": zxing_alone, "zbar alone": zbar_alone,
                                                 "project": make_decoder("zxing").decode}[name]  # fmt: skip
    found = set()
    for path in photos():
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if any(same_text(text, expected_text(path)) for text in decode(image)):
            found.add(path.name if path.parent.name == "qrcode-1" else f"2/{path.name}")
    return frozenset(found)


def test_the_decoder_finds_every_photo_zxing_cpp_alone_finds() -> None:
    assert photos_decoded("zxing alone") <= photos_decoded("project")


def test_the_decoder_finds_more_photos_than_the_best_single_library() -> None:
    best_single = max(len(photos_decoded("zxing alone")), len(photos_decoded("zbar alone")))
    assert len(photos_decoded("project")) > best_single


def test_a_frame_with_a_code_is_read_once(reads: ReadSpy) -> None:
    assert ZxingDecoder().decode(render(Scene("VIP0001234"))) == ["VIP0001234"]
    assert len(reads.calls) == 1


def test_a_frame_with_nothing_is_retried_cheapest_first(reads: ReadSpy) -> None:
    assert ZxingDecoder().decode(render(Scene(None))) == []
    assert [call["shape"] for call in reads.calls] == [(480, 640), (240, 320), (960, 1280)]


def test_retries_stop_at_the_first_that_finds_the_code(reads: ReadSpy) -> None:
    # A photo of a QR printed on a rice cracker: the full-size read misses it, the half-size copy reads it.
    path = PHOTO_DIR / "qrcode-2" / "28.png"
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert zxing_alone(image) == []
    reads.calls.clear()
    assert ZxingDecoder().decode(image) == [expected_text(path)]
    assert len(reads.calls) == 2


def test_frames_bigger_than_720p_are_not_upscaled(reads: ReadSpy) -> None:
    frame = render(Scene(None, width=1920, height=1080))
    assert ZxingDecoder().decode(frame) == []
    assert [call["shape"] for call in reads.calls] == [(1080, 1920), (540, 960)]


@pytest.mark.parametrize("factory", [lambda: ZxingDecoder(retry=False), lambda: make_decoder("zxing", retry=False)])
def test_retries_can_be_turned_off(reads: ReadSpy, factory: Callable[[], ZxingDecoder]) -> None:
    assert factory().decode(render(Scene(None))) == []
    assert len(reads.calls) == 1


def test_a_stream_frame_with_nothing_located_is_read_once(reads: ReadSpy) -> None:
    decoder = ZxingDecoder(clock=Ticks())
    for seed in range(30):
        assert decoder.decode_frame(render(Scene(None, seed=seed))) == []
    assert len(reads.calls) == 30
    assert all(call["shape"] == (480, 640) for call in reads.calls)


def test_a_stream_frame_with_a_located_but_undecoded_symbol_is_retried(reads: ReadSpy) -> None:
    # Blurred and small: zxing-cpp finds the QR but its checksum fails; the double-size copy reads it.
    frame = render(Scene("VIP0001234", size=120, blur=2.0))
    assert zxing_alone(frame) == []
    assert any(not r.valid for r in zxingcpp.read_barcodes(frame, formats=QR, return_errors=True))
    reads.calls.clear()
    assert ZxingDecoder(clock=Ticks()).decode_frame(frame) == ["VIP0001234"]
    assert [call["shape"] for call in reads.calls] == [(480, 640), (240, 320), (960, 1280)]


def test_an_idle_stream_retries_only_at_half_size_now_and_then(reads: ReadSpy) -> None:
    # A code zxing-cpp cannot even locate is not given up on while it stays in view; the
    # double-size copy (~13 reads) is kept for frames where a symbol was located.
    decoder = ZxingDecoder(clock=Ticks())
    frame = render(Scene(None))
    for _ in range(400):
        decoder.decode_frame(frame)
    retries = [call["shape"] for call in reads.calls if call["shape"] != (480, 640)]
    assert len(reads.calls) - len(retries) == 400
    assert 0 < len(retries) <= 400 * 0.2
    assert set(retries) == {(240, 320)}


def test_a_stream_without_retries_reads_a_located_symbol_once(reads: ReadSpy) -> None:
    assert ZxingDecoder(retry=False, clock=Ticks()).decode_frame(render(Scene("VIP0001234", size=120, blur=2.0))) == []
    assert len(reads.calls) == 1
