"""Camera scanning: OpenCV capture, pluggable decoders (zxing-cpp default, pyzbar), de-duplication."""

from drivers.camera.capture import CameraScanner, frame_interval
from drivers.camera.decoders import Decoder, PyzbarDecoder, ZxingDecoder, make_decoder
from drivers.camera.dedupe import Deduplicator

__all__ = [
    "CameraScanner",
    "Decoder",
    "Deduplicator",
    "PyzbarDecoder",
    "ZxingDecoder",
    "frame_interval",
    "make_decoder",
]
