"""The code types a camera may look for, by the names the config and the command line use.

Kept apart from the decoders so naming a type (config checks, `scan-test --help`) never loads OpenCV.
"""

from __future__ import annotations

# Our name -> (zxing-cpp format, zbar symbol).
SYMBOLOGIES: dict[str, tuple[str, str]] = {
    "qrcode": ("QRCode", "QRCODE"),
    "code128": ("Code128", "CODE128"),
    "code39": ("Code39", "CODE39"),
    "code93": ("Code93", "CODE93"),
    "ean13": ("EAN13", "EAN13"),
    "ean8": ("EAN8", "EAN8"),
    "upca": ("UPCA", "UPCA"),
    "upce": ("UPCE", "UPCE"),
    "itf": ("ITF", "I25"),
    "codabar": ("Codabar", "CODABAR"),
}
DEFAULT_SYMBOLOGIES: tuple[str, ...] = ("qrcode",)
