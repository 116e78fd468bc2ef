"""Camera frames holding a 1D barcode (a member card printed as Code128)."""

from __future__ import annotations

import numpy as np
import zxingcpp

from hardware_sim.camera import Scene, render

CARD = "MEMBER-000123"


def code128_frame(text: str = CARD, seed: int = 3) -> np.ndarray:
    """The barcode, with its quiet zone, on a cluttered 640x480 camera frame (BGR)."""
    bars = np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128).to_image(scale=3))
    frame = render(Scene(None, seed=seed))
    height, width = bars.shape
    top, left = (480 - height) // 2, (640 - width) // 2
    frame[top - 20 : top + height + 20, left - 30 : left + width + 30] = 255
    frame[top : top + height, left : left + width] = bars[:, :, None]
    return frame
