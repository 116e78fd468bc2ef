"""Scanning figures in one bounded run (about half a minute on 2 cores).

    .venv/bin/python bench/bench_scanning.py [--seconds 5]

Prints: decode rate and ms/frame of zxing-cpp and pyzbar on the zxing QR photo set and on
synthetic 640x480 and 1280x720 camera frames; the camera pipeline's CPU share with a 30 fps
camera; scan-to-event latency over the simulated serial pty (p50, p99); replug recovery time.
The project's decoder against raw zxing-cpp (per-frame ratio, photo set decodes) is bench/bench_camera.py.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.camera.capture import CameraScanner
from drivers.camera.decoders import make_decoder
from drivers.scanners.base import Backoff
from drivers.scanners.events import DeviceState, DeviceStatus, ScanEvent, ScannerEvent
from drivers.scanners.serial import SerialScanner
from hardware_sim.camera import Scene, render, scene_frames, write_video
from hardware_sim.scanner import SerialScannerSimulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.shared_data import shared_data

PHOTO_DIR = shared_data() / "qr-photos"
DECODERS = ("zxing", "pyzbar")


def expected_text(image: Path) -> str:
    raw = image.with_suffix(".txt").read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("shift_jis")


def same_text(a: str, b: str) -> bool:
    def norm(text: str) -> list[str]:
        return [line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n")]

    return a == b or norm(a) == norm(b)


def decode_figures(samples: list[tuple[np.ndarray, str]]) -> dict[str, tuple[int, float]]:
    figures = {}
    for name in DECODERS:
        decoder = make_decoder(name)
        decoder.decode(samples[0][0])  # warm-up
        found, times = 0, []
        for image, expected in samples:
            started = time.perf_counter()
            texts = decoder.decode(image)
            times.append(time.perf_counter() - started)
            found += any(same_text(t, expected) for t in texts)
        figures[name] = (found, statistics.median(times) * 1000)
    return figures


def print_decode(title: str, samples: list[tuple[np.ndarray, str]]) -> None:
    figures = decode_figures(samples)
    print(f"{title} ({len(samples)} images)")
    for name, (found, ms) in figures.items():
        print(f"  {name:<7} decoded {found:>3}/{len(samples)}   median {ms:6.2f} ms/frame")
    ratio = figures["pyzbar"][1] / figures["zxing"][1]
    print(f"  zxing-cpp is {ratio:.1f}x faster than pyzbar")


def photo_samples() -> list[tuple[np.ndarray, str]]:
    samples = []
    for path in sorted(p for p in PHOTO_DIR.glob("*/*") if p.suffix in {".png", ".jpg", ".gif"}):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is not None:
            samples.append((image, expected_text(path)))
    return samples


def synthetic_samples(width: int, height: int, count: int = 24) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(width)
    samples = []
    for i in range(count):
        content = f"28{i:016d}" if i % 2 else f"https://memberprod.alipay.com/account/openform/activecard.htm?t={i}"
        scene = Scene(content, size=int(rng.integers(110, 260)), angle=float(rng.uniform(0, 60)),
                      blur=float(rng.uniform(0, 1.5)), noise=float(rng.uniform(0, 10)), width=width,
                      height=height, center=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65))),
                      seed=i)  # fmt: skip
        samples.append((render(scene), content))
    return samples


class PacedCapture:
    """A 30 fps camera: frames from an MJPG video (decoded like a USB camera's) at a steady pace."""

    def __init__(self, video: str, fps: float = 30.0) -> None:
        self._capture = cv2.VideoCapture(video)
        self._video = video
        self._period = 1.0 / fps
        self._next = time.monotonic()

    def isOpened(self) -> bool:
        return bool(self._capture.isOpened())

    def read(self) -> tuple[bool, np.ndarray | None]:
        # A camera delivers a frame every period whether or not we read it; reading waits for the next.
        now = time.monotonic()
        self._next = max(self._next + self._period, now)
        time.sleep(max(0.0, self._next - now))
        ok, frame = self._capture.read()
        if not ok:  # loop the clip
            self._capture.release()
            self._capture = cv2.VideoCapture(self._video)
            ok, frame = self._capture.read()
        return ok, frame

    def release(self) -> None:
        self._capture.release()


def camera_cpu_share(seconds: float, max_fps: float, width: int, height: int, tmp: Path) -> tuple[float, int]:
    video = tmp / f"cam{width}.avi"
    write_video(video, scene_frames(Scene("286543210987654321", size=180, angle=20, blur=0.8, noise=6,
                                          width=width, height=height), 30))  # fmt: skip
    events: list[ScannerEvent] = []
    scanner = CameraScanner(str(video), events.append, max_fps=max_fps, cpu_budget=0.5,
                            open_capture=lambda source: PacedCapture(str(source)))  # fmt: skip
    scanner.start()
    time.sleep(0.5)  # opened and warm
    cpu0, wall0, frames0 = _cpu(), time.monotonic(), scanner.frames_decoded
    time.sleep(seconds)
    cpu1, wall1, frames1 = _cpu(), time.monotonic(), scanner.frames_decoded
    scanner.stop()
    assert any(isinstance(e, ScanEvent) for e in events), "the camera pipeline decoded nothing"
    return (cpu1 - cpu0) / (wall1 - wall0), round((frames1 - frames0) / (wall1 - wall0))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serial_latency(count: int) -> list[float]:
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    done = threading.Event()

    def sink(event: ScannerEvent) -> None:
        if isinstance(event, ScanEvent):
            latencies.append(time.perf_counter() - sent_at[event.code])
            if len(latencies) == count:
                done.set()

    with SerialScannerSimulator() as sim:
        scanner = SerialScanner(sim.path, sink)
        scanner.start()
        _wait_connected(scanner)
        for i in range(count):
            code = f"28{i:016d}"
            sent_at[code] = time.perf_counter()
            sim.scan(code)
            time.sleep(0.01)  # a cashier scans at most a few codes per second
        done.wait(10)
        scanner.stop()
    return latencies


def replug_recovery(trials: int) -> list[float]:
    results = []
    with SerialScannerSimulator() as sim:
        connected = threading.Event()

        def sink(event: ScannerEvent) -> None:
            if isinstance(event, DeviceStatus) and event.state is DeviceState.CONNECTED:
                connected.set()

        scanner = SerialScanner(sim.path, sink, backoff=Backoff())
        scanner.start()
        connected.wait(10)
        for _ in range(trials):
            connected.clear()
            sim.unplug()
            time.sleep(1.5)  # long enough for the backoff to reach its cap
            replugged = time.perf_counter()
            sim.replug()
            connected.wait(10)
            results.append(time.perf_counter() - replugged)
        scanner.stop()
    return results


def _wait_connected(scanner: SerialScanner) -> None:
    for _ in range(500):
        if scanner.state is DeviceState.CONNECTED:
            return
        time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="camera CPU measurement window")
    parser.add_argument("--scans", type=int, default=300, help="codes sent for the latency figure")
    args = parser.parse_args()

    print_decode("zxing QR photo set", photo_samples())
    for width, height in ((640, 480), (1280, 720)):
        print_decode(f"synthetic {width}x{height} frames (QR on clutter, rotated, blurred, noisy)",
                     synthetic_samples(width, height))  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        print(f"camera pipeline at 30 fps input (zxing, cpu_budget 0.5, {args.seconds:.0f} s each)")
        for width, height, max_fps in ((640, 480, 10), (640, 480, 30), (1280, 720, 10)):
            share, fps = camera_cpu_share(args.seconds, max_fps, width, height, Path(tmp))
            print(f"  {width}x{height} max_fps {max_fps:>2}: {fps:>2} frames decoded/s, "
                  f"CPU {share * 100:5.1f}% of one core (incl. MJPG decode)")  # fmt: skip

    latencies = serial_latency(args.scans)
    print(f"scan-to-event latency over the pty ({len(latencies)} scans)")
    print(f"  p50 {percentile(latencies, 0.5) * 1000:.2f} ms   p99 {percentile(latencies, 0.99) * 1000:.2f} ms   "
          f"max {max(latencies) * 1000:.2f} ms")  # fmt: skip
    recovery = replug_recovery(3)
    print(f"serial unplug/replug: reconnected {', '.join(f'{r * 1000:.0f}' for r in recovery)} ms after replug")


if __name__ == "__main__":
    main()
