"""Card images: the seed's rules judged by content, and `fit()` making conforming copies."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image, ImageFilter

from agent.setup import images
from agent.setup.images import MIB, ImageError, ImageKind, ImageRule, check_image, fit, sniff_format


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def solid(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB", color: object = (200, 30, 40)) -> bytes:
    return encode(Image.new(mode, size, color), fmt)  # type: ignore[arg-type]


def noise(size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp")])
def test_each_allowed_format_is_recognised_by_its_magic_bytes(fmt: str, name: str) -> None:
    data = solid((500, 500), fmt)
    assert sniff_format(data) == name
    check = check_image(data, ImageKind.LOGO)
    assert check.ok, check.violations
    assert (check.format, check.width, check.height) == (name, 500, 500)


def test_a_background_of_the_seed_size_passes() -> None:
    check = check_image(solid((1020, 643)), ImageKind.BACKGROUND)
    assert check.ok and check.size_bytes > 0


def test_other_formats_are_refused_whatever_the_file_is_called() -> None:
    webp = encode(Image.new("RGB", (500, 500)), "WEBP")
    for data in (webp, b"%PDF-1.4 not an image", b""):
        check = check_image(data, ImageKind.LOGO)
        assert check.format is None
        assert check.violations == ("not a BMP, PNG, JPEG or GIF image (judged by its content, not its name)",)


def test_wrong_pixel_size_names_both_sizes() -> None:
    check = check_image(solid((640, 480)), ImageKind.LOGO)
    assert check.violations == ("image is 640x480 px; a logo image must be 500x500 px",)
    check = check_image(solid((500, 500)), ImageKind.BACKGROUND)
    assert check.violations == ("image is 500x500 px; a background image must be 1020x643 px",)


def test_file_size_limits_are_two_mb_for_backgrounds_and_one_mb_for_the_rest() -> None:
    big_logo = encode(noise((500, 500)), "BMP") + b"\0" * MIB  # a valid BMP with trailing bytes
    check = check_image(big_logo, ImageKind.OTHER)
    assert any("a other image must be at most 1 MB" in v for v in check.violations)
    heavy_background = encode(noise((1020, 643)), "PNG", compress_level=0) + b"\0" * (MIB // 2)
    assert len(heavy_background) > 2 * MIB
    check = check_image(heavy_background, ImageKind.BACKGROUND)
    assert check.violations == (f"file is {len(heavy_background) / MIB:.2f} MB; a background image must be at most 2 MB",)


def test_every_violation_is_reported_at_once() -> None:
    data = encode(noise((900, 900)), "BMP") + b"\0" * MIB
    assert len(check_image(data, ImageKind.LOGO).violations) == 2


def test_a_truncated_image_is_reported_as_corrupt_not_raised() -> None:
    data = encode(noise((500, 500)), "PNG")[:2000]
    check = check_image(data, ImageKind.LOGO)
    assert check.format == "png"
    assert not check.ok and "corrupt" in check.violations[0]


def test_fit_crops_to_the_aspect_then_resizes_never_stretches() -> None:
    # 2000x1000, left half red, right half blue: a centred crop to 1:1 keeps both halves side by side.
    image = Image.new("RGB", (2000, 1000), (255, 0, 0))
    image.paste((0, 0, 255), (1000, 0, 2000, 1000))
    fitted = fit(encode(image, "JPEG", quality=95), ImageKind.LOGO)
    assert check_image(fitted, ImageKind.LOGO).ok
    out = Image.open(io.BytesIO(fitted)).convert("RGB")
    assert out.size == (500, 500)
    left, right = out.getpixel((100, 250)), out.getpixel((400, 250))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[0] > 200 and left[2] < 60  # red stayed red: a crop, not a squeeze
    assert right[2] > 200 and right[0] < 60


def test_fit_keeps_transparency_as_png_when_it_fits() -> None:
    logo = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    logo.paste((10, 120, 60, 255), (200, 200, 600, 600))
    fitted = fit(encode(logo, "PNG"), ImageKind.LOGO)
    assert sniff_format(fitted) == "png"
    assert Image.open(io.BytesIO(fitted)).mode == "RGBA"


def test_fit_falls_back_to_jpeg_when_png_would_be_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real limits are generous for these pixel sizes; a tighter rule shows the fallback.
    monkeypatch.setitem(images._RULES, ImageKind.OTHER, ImageRule(max_bytes=300_000, width=500, height=500))
    photo = noise((600, 600)).filter(ImageFilter.GaussianBlur(1))  # photo-like: PNG is large, JPEG is not
    fitted = fit(encode(photo, "PNG"), ImageKind.OTHER)
    check = check_image(fitted, ImageKind.OTHER)
    assert check.ok and check.format == "jpg" and check.size_bytes <= 300_000


def test_fit_takes_the_first_frame_of_an_animated_gif() -> None:
    frames = [Image.new("P", (600, 600), i) for i in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    assert check_image(fit(out.getvalue(), ImageKind.OTHER), ImageKind.OTHER).ok


def test_fit_refuses_what_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not a BMP, PNG, JPEG or GIF"):
        fit(b"hello", ImageKind.LOGO)
    with pytest.raises(ImageError, match="corrupt"):
        fit(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, ImageKind.LOGO)
