"""Card images: Alipay's image rules checked by content, and `fit()` to make a conforming copy.

Pure functions over bytes (Pillow decodes in memory): the CLI reads and writes the files. Pillow is
imported when an image is handled: `posagent` loads this module with every command, the daemon included.
The format is judged by magic bytes, never by the file name, because Alipay judges the content.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

MIB = 1024 * 1024

# Magic bytes of the formats Alipay allows (BMP, PNG, JPEG, GIF).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)

# Decoding a hostile file must not eat the store PC's memory (Pillow's own guard is ~89 Mpx).
MAX_PIXELS = 40_000_000


class ImageKind(Enum):
    BACKGROUND = "background"
    LOGO = "logo"
    OTHER = "other"

    @property
    def rule(self) -> ImageRule:
        return _RULES[self]


@dataclass(frozen=True)
class ImageRule:
    max_bytes: int
    width: int
    height: int

    def describe(self) -> str:
        return f"{self.width}x{self.height} px, at most {self.max_bytes // MIB} MB, BMP/PNG/JPEG/GIF"


# Alipay's rules: background 1020x643 within 2 MB; other images 500x500 within 1 MB.
_RULES = {
    ImageKind.BACKGROUND: ImageRule(max_bytes=2 * MIB, width=1020, height=643),
    ImageKind.LOGO: ImageRule(max_bytes=1 * MIB, width=500, height=500),
    ImageKind.OTHER: ImageRule(max_bytes=1 * MIB, width=500, height=500),
}


@dataclass(frozen=True)
class ImageCheck:
    """What a file is and every rule it breaks (empty `violations` = ready to upload)."""

    kind: ImageKind
    format: str | None  # png, jpg, gif, bmp; None when not a supported image
    size_bytes: int
    width: int | None
    height: int | None
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


class ImageError(ValueError):
    """The content cannot be turned into a card image (not an image at all, or undecodable)."""


def sniff_format(data: bytes) -> str | None:
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)


def check_image(data: bytes, kind: ImageKind) -> ImageCheck:
    rule = kind.rule
    violations: list[str] = []
    fmt = sniff_format(data)
    width = height = None
    if fmt is None:
        violations.append("not a BMP, PNG, JPEG or GIF image (judged by its content, not its name)")
    else:
        try:
            width, height = _pixel_size(data)
        except ImageError as exc:
            violations.append(str(exc))
    if len(data) > rule.max_bytes:
        violations.append(
            f"file is {_mb(len(data))}; a {kind.value} image must be at most {rule.max_bytes // MIB} MB"
        )
    if width is not None and height is not None and (width, height) != (rule.width, rule.height):
        violations.append(f"image is {width}x{height} px; a {kind.value} image must be {rule.width}x{rule.height} px")
    return ImageCheck(kind, fmt, len(data), width, height, tuple(violations))


def fit(data: bytes, kind: ImageKind) -> bytes:
    """A conforming copy: centre-cropped to the target aspect (never stretched), resized, re-encoded.

    PNG when it fits the size limit (sharp logos, text), else JPEG at the best quality that fits.
    """
    from PIL import Image, ImageOps  # noqa: PLC0415 - see the module's docstring

    rule = kind.rule
    image = _open(data)
    image.seek(0)  # animated GIF: the first frame
    image = ImageOps.exif_transpose(image) or image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    fitted = ImageOps.fit(image, (rule.width, rule.height), method=Image.Resampling.LANCZOS)
    png = _encode(fitted, "PNG", optimize=True)
    if len(png) <= rule.max_bytes:
        return png
    if fitted.mode == "RGBA":  # JPEG has no alpha: flatten on white, like a printed card
        flat = Image.new("RGB", fitted.size, "white")
        flat.paste(fitted, mask=fitted.getchannel("A"))
        fitted = flat
    for quality in (92, 85, 75, 60, 45):
        jpeg = _encode(fitted, "JPEG", quality=quality, optimize=True)
        if len(jpeg) <= rule.max_bytes:
            return jpeg
    raise ImageError("cannot re-encode the image within the size limit")  # not reachable at these sizes


def _pixel_size(data: bytes) -> tuple[int, int]:
    image = _open(data)
    try:
        image.load()  # a truncated or corrupt body fails here, not at Alipay
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the image data is corrupt or truncated ({type(exc).__name__})") from None
    return image.size


def _open(data: bytes) -> Image.Image:
    if sniff_format(data) is None:
        raise ImageError("not a BMP, PNG, JPEG or GIF image (judged by its content, not its name)")
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - see the module's docstring

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"image is {image.width}x{image.height} px: too large to process")
            return image
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:  # fmt: skip
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"the image data is corrupt or unreadable ({type(exc).__name__})") from None


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _mb(size: int) -> str:
    return f"{size / MIB:.2f} MB"
