"""Decoders on real photos (zxing's QR test set) and on synthesised camera frames.

Rates are asserted as minimum counts, never timings (bench/bench_scanning.py prints those).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from drivers.camera.decoders import ZxingDecoder, make_decoder
from hardware_sim.camera import Scene, render
from tests.drivers.camera.photos import expected_text, photos, same_text

# Measured: zxing-cpp 53 of 55 (52 without its retries), pyzbar 41 of 55 (it misreads Shift_JIS
# half-width katakana).
MINIMUM_PHOTOS_DECODED = {"zxing": 48, "pyzbar": 38}


@functools.cache
def decoded_photos(name: str) -> int:
    decoder = make_decoder(name)
    count = 0
    for image_path in photos():
        image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
        assert image is not None, image_path
        expected = expected_text(image_path)
        count += any(same_text(text, expected) for text in decoder.decode(image))
    return count


def test_the_photo_set_is_there() -> None:
    assert len(photos()) >= 50


@pytest.mark.parametrize("name", ["zxing", "pyzbar"])
def test_decode_rate_on_real_photos(name: str) -> None:
    assert decoded_photos(name) >= MINIMUM_PHOTOS_DECODED[name]


def test_zxing_decodes_more_real_photos_than_pyzbar() -> None:
    assert decoded_photos("zxing") > decoded_photos("pyzbar")


def synthetic_scenes() -> list[Scene]:
    scenes = []
    for i, (size, angle, blur, noise) in enumerate(
        [(120, 0, 0, 0), (120, 30, 1.0, 6), (180, 45, 1.5, 10), (240, 10, 0.5, 4), (160, 60, 1.0, 8)]
    ):
        for width, height in ((640, 480), (1280, 720)):
            scenes.append(Scene(f"28{i:016d}", size, angle, blur, noise, width, height, seed=i))
    return scenes


@pytest.mark.parametrize(("name", "minimum"), [("zxing", 10), ("pyzbar", 8)])
def test_decode_rate_on_synthetic_frames(name: str, minimum: int) -> None:
    decoder = make_decoder(name)
    found = sum(scene.content in decoder.decode(render(scene)) for scene in synthetic_scenes())
    assert found >= minimum


@pytest.mark.parametrize("name", ["zxing", "pyzbar"])
def test_clutter_alone_decodes_to_nothing(name: str) -> None:
    decoder = make_decoder(name)
    for seed in range(5):
        assert decoder.decode(render(Scene(None, seed=seed))) == []


@pytest.mark.parametrize("name", ["zxing", "pyzbar"])
def test_colour_and_grey_frames_both_work(name: str) -> None:
    frame = render(Scene("VIP0001234"))
    decoder = make_decoder(name)
    assert decoder.decode(frame) == ["VIP0001234"]
    assert decoder.decode(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)) == ["VIP0001234"]


def test_two_codes_in_one_frame() -> None:
    frame = render(Scene("LEFT-CODE", size=160, center=(0.25, 0.5)))
    right = render(Scene("RIGHT-CODE", size=160, center=(0.75, 0.5)))
    frame[:, 320:] = right[:, 320:]
    assert sorted(ZxingDecoder().decode(frame)) == ["LEFT-CODE", "RIGHT-CODE"]


def test_zxing_keeps_control_characters_as_they_are() -> None:
    # Plain text mode: the capture layer must see (and reject) raw control characters.
    assert ZxingDecoder().decode(render(Scene("A\x01B"))) == ["A\x01B"]


@pytest.mark.parametrize("name", ["zxing", "pyzbar"])
def test_odd_images_give_nothing_rather_than_crash(name: str) -> None:
    decoder = make_decoder(name)
    assert decoder.decode(np.zeros((1, 1), np.uint8)) == []
    assert decoder.decode(np.full((480, 640, 3), 255, np.uint8)) == []


def test_unknown_decoder_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown decoder 'opencv'"):
        make_decoder("opencv")
