"""A camera, simulated: synthesised scenes, image files and video files OpenCV can open.

A scene is a QR code of given content, size, angle, blur and noise pasted onto a cluttered
background (shapes, lines, text: the kind of edges that fool a detector). Scenes are written as
image files or as an MJPG .avi that `cv2.VideoCapture` opens like a camera.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import qrcode
from cv2.typing import MatLike

Frame = MatLike  # BGR uint8, as OpenCV cameras give them


@dataclass(frozen=True)
class Scene:
    content: str | None = "https://example.com/"  # None: clutter only, no code
    size: int = 200  # QR side in pixels, quiet zone included
    angle: float = 0.0  # degrees, counter-clockwise
    blur: float = 0.0  # Gaussian sigma in pixels
    noise: float = 0.0  # Gaussian noise sigma in grey levels
    width: int = 640
    height: int = 480
    center: tuple[float, float] = (0.5, 0.5)  # where the QR sits, as fractions of the frame
    seed: int = 0  # background and noise are reproducible


def qr_image(content: str, size: int) -> Frame:
    """A black-on-white QR (with its quiet zone) scaled to `size` x `size`, greyscale."""
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(content)
    code.make(fit=True)
    modules = np.array(code.get_matrix(), dtype=bool)
    image = np.where(modules, 0, 255).astype(np.uint8)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


def cluttered_background(width: int, height: int, rng: np.random.Generator) -> Frame:
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = rng.integers(90, 200, 3, dtype=np.uint8)
    for _ in range(25):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            cv2.rectangle(frame, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))), color, -1)
        elif kind == 1:
            cv2.circle(frame, (x, y), int(rng.integers(5, 60)), color, -1)
        elif kind == 2:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(frame, (x, y), end, color, int(rng.integers(1, 5)))
        else:
            cv2.putText(frame, "SALE 12.50", (x, y), cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.4, 1.5)), color, 2)
    return frame


def render(scene: Scene) -> Frame:
    """One BGR frame of the scene."""
    rng = np.random.default_rng(scene.seed)
    frame = cluttered_background(scene.width, scene.height, rng)
    if scene.content is not None:
        _paste_rotated(frame, qr_image(scene.content, scene.size), scene)
    if scene.blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), scene.blur)
    return add_noise(frame, scene.noise, rng)


def _paste_rotated(frame: Frame, qr: Frame, scene: Scene) -> None:
    # Rotate the QR on a canvas big enough for any angle, with a mask of what belongs to it.
    side = qr.shape[0]
    canvas_side = math.ceil(side * math.sqrt(2)) + 2
    offset = (canvas_side - side) // 2
    canvas = np.zeros((canvas_side, canvas_side), np.uint8)
    mask = np.zeros_like(canvas)
    canvas[offset : offset + side, offset : offset + side] = qr
    mask[offset : offset + side, offset : offset + side] = 255
    turn = cv2.getRotationMatrix2D((canvas_side / 2, canvas_side / 2), scene.angle, 1.0)
    canvas = cv2.warpAffine(canvas, turn, (canvas_side, canvas_side), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, turn, (canvas_side, canvas_side), flags=cv2.INTER_NEAREST)
    # Clip the canvas to the frame around the requested centre.
    cx, cy = int(scene.center[0] * scene.width), int(scene.center[1] * scene.height)
    x0, y0 = cx - canvas_side // 2, cy - canvas_side // 2
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(scene.width, x0 + canvas_side), min(scene.height, y0 + canvas_side)
    if fx0 >= fx1 or fy0 >= fy1:
        return  # entirely outside the frame
    part = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    region = frame[fy0:fy1, fx0:fx1]
    inside = mask[part] > 0
    region[inside] = canvas[part][inside][:, None]


def write_image(path: str | os.PathLike[str], frame: Frame) -> None:
    try:
        written = cv2.imwrite(os.fspath(path), frame)
    except cv2.error:
        written = False
    if not written:
        raise OSError(f"cannot write image {os.fspath(path)!r} (unknown extension or unwritable)")


def write_video(path: str | os.PathLike[str], frames: Iterable[Frame], fps: float = 30.0) -> int:
    """Write frames as an MJPG .avi (every OpenCV build reads it). Returns the frame count."""
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"MJPG")
                writer = cv2.VideoWriter(os.fspath(path), fourcc, fps, (width, height))
                if not writer.isOpened():
                    raise OSError(f"cannot write video {os.fspath(path)!r}")
            writer.write(frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def scene_frames(scene: Scene, count: int) -> Iterator[Frame]:
    """A short clip: the same scene with fresh sensor noise in each frame."""
    clean = render(dataclasses.replace(scene, noise=0.0))
    for i in range(count):
        yield add_noise(clean, scene.noise, np.random.default_rng((scene.seed, i)))


def add_noise(frame: Frame, sigma: float, rng: np.random.Generator) -> Frame:
    if sigma <= 0:
        return frame.copy()
    pixels = np.asarray(frame, np.float32)
    noisy = pixels + rng.normal(0.0, sigma, pixels.shape).astype(np.float32)
    clipped: npt.NDArray[np.uint8] = np.clip(noisy, 0, 255).astype(np.uint8)
    return clipped


def image_files_frames(paths: Sequence[str | os.PathLike[str]], width: int, height: int) -> Iterator[Frame]:
    """Image files letterboxed to one frame size (a video needs one size throughout)."""
    for path in paths:
        image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR) if os.path.isfile(path) else None
        if image is None:
            raise OSError(f"cannot read image {os.fspath(path)!r}")
        yield letterbox(image, width, height)


def letterbox(image: Frame, width: int, height: int) -> Frame:
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
    frame = np.full((height, width, 3), 255, np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return frame
