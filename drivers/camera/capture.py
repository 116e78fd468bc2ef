"""Camera scanner: OpenCV capture + decoder + de-duplication in a worker thread.

The frame rate is capped (`max_fps`) and so is the CPU spent decoding (`cpu_budget`, a share of
one core): when decoding gets slow (big frames, busy PC) frames are skipped rather than letting
the till PC's CPU fill up. A camera that stops giving frames is closed and reopened with backoff;
a video file source therefore loops, which the simulators use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import cv2
from cv2.typing import MatLike

from drivers.addresses import display_address
from drivers.camera.decoders import Decoder, make_decoder
from drivers.camera.dedupe import Deduplicator
from drivers.scanners.base import Backoff, DeviceWorker, EventSink
from drivers.scanners.events import DeviceState, DeviceWarning, ScanEvent, SourceKind
from drivers.scanners.framing import Code, FramingConfig, parse_code


class Capture(Protocol):
    """The part of cv2.VideoCapture we use (tests and benches substitute their own)."""

    def isOpened(self) -> bool: ...  # OpenCV's name
    def read(self) -> tuple[bool, MatLike | None]: ...
    def release(self) -> None: ...


def open_opencv_capture(source: str | int) -> Capture:
    capture = cv2.VideoCapture(source)
    # Keep at most one frame queued: a frame decoded late is a stale frame.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return capture


def frame_interval(decode_seconds: float, *, max_fps: float, cpu_budget: float) -> float:
    """Seconds from one frame's start to the next: the fps cap, or longer if decoding is slow.

    Decoding `decode_seconds` per frame within `cpu_budget` (share of one core) needs
    `decode_seconds / cpu_budget` seconds per frame.
    """
    return max(1.0 / max_fps, decode_seconds / cpu_budget)


class CameraScanner(DeviceWorker):
    source = SourceKind.CAMERA

    def __init__(
        self,
        source: str | int,
        sink: EventSink,
        *,
        decoder: Decoder | None = None,
        max_fps: float = 10.0,
        cpu_budget: float = 0.5,
        dedupe: Deduplicator | None = None,
        backoff: Backoff | None = None,
        open_capture: Callable[[str | int], Capture] = open_opencv_capture,
        max_failed_reads: int = 5,
        max_code_length: int = 1024,
    ) -> None:
        # The device's name on every surface is its display form: a stream URL's password stays here.
        super().__init__(display_address(source), sink)
        self.camera_source = source
        self.decoder = decoder or make_decoder("zxing")
        self.max_fps = max_fps
        self.cpu_budget = cpu_budget
        self._dedupe = dedupe or Deduplicator()
        self._backoff = backoff or Backoff(initial=0.2, maximum=2.0)
        self._open_capture = open_capture
        self._max_failed_reads = max_failed_reads
        self._checks = FramingConfig(aim_ids=False, max_length=max_code_length)
        self.frames_decoded = 0

    def _run(self) -> None:
        while not self._stopping.is_set():
            capture = self._open()
            if capture is None:
                self._stopping.wait(self._backoff.next_delay())
                continue
            self._backoff.reset()
            self._set_state(DeviceState.CONNECTED)
            try:
                self._scan_until_lost(capture)
            finally:
                capture.release()

    def _open(self) -> Capture | None:
        try:
            capture = self._open_capture(self.camera_source)
            if capture.isOpened():
                return capture
            capture.release()
            detail = "camera cannot be opened"
        except Exception as exc:  # OpenCV raises cv2.error and assorted others
            detail = f"camera cannot be opened: {type(exc).__name__}"
        self._set_state(DeviceState.RECONNECTING, detail)
        return None

    def _scan_until_lost(self, capture: Capture) -> None:
        failed_reads = 0
        while not self._stopping.is_set():
            started = time.perf_counter()
            ok, frame = capture.read()
            if not ok or frame is None:
                failed_reads += 1
                if failed_reads >= self._max_failed_reads:
                    self._set_state(DeviceState.RECONNECTING, "camera lost (no frames)")
                    return
                self._stopping.wait(1.0 / self.max_fps)
                continue
            failed_reads = 0
            decode_started = time.perf_counter()
            self._handle(frame)
            decode_seconds = time.perf_counter() - decode_started
            interval = frame_interval(decode_seconds, max_fps=self.max_fps, cpu_budget=self.cpu_budget)
            self._stopping.wait(max(0.0, interval - (time.perf_counter() - started)))

    def _handle(self, frame: MatLike) -> None:
        try:
            texts = self.decoder.decode_frame(frame)  # a stream: retries rationed (retry_policy.py)
        except Exception as exc:  # a decoder crash on one odd frame must not stop the camera
            self._emit(DeviceWarning(self.device, self.source, f"decoder failed: {type(exc).__name__}", time.time()))
            return
        self.frames_decoded += 1
        for text in self._dedupe.observe(texts, time.monotonic()):
            checked = parse_code(text.encode("utf-8", "surrogatepass"), self._checks)
            if isinstance(checked, Code):
                self._emit(ScanEvent(checked.text, self.device, self.source, time.time(), None))
            else:
                self._emit(DeviceWarning(self.device, self.source, checked.reason, time.time()))
