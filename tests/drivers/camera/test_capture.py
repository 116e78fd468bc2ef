"""The camera worker: frames in, de-duplicated code events out; lost cameras are reopened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera.capture import CameraScanner, Capture, frame_interval
from drivers.camera.decoders import ZxingDecoder
from drivers.camera.dedupe import Deduplicator
from drivers.scanners.base import Backoff
from drivers.scanners.events import DeviceState, SourceKind
from hardware_sim.camera import Scene, render, scene_frames, write_video
from hardware_sim.camera_stream import CameraStreamSimulator
from tests.drivers.camera.ticks import Ticks
from tests.drivers.camera.zxing_spy import ReadSpy
from tests.drivers.scanners.collector import Collector, poll_until

Frame = npt.NDArray[np.uint8]
BLANK: Frame = np.zeros((4, 4), np.uint8)


class FakeCapture:
    """Plays a fixed list of frames, then reports no more (a camera unplugged mid-stream)."""

    def __init__(self, frames: list[Frame], opened: bool = True) -> None:
        self._frames = iter(frames)
        self._opened = opened
        self.released = False

    def isOpened(self) -> bool:
        return self._opened

    def read(self) -> tuple[bool, Frame | None]:
        frame = next(self._frames, None)
        return (frame is not None, frame)

    def release(self) -> None:
        self.released = True


class ScriptedDecoder:
    """Decodes frame number N (stored in pixel [0, 0]) to a scripted list of texts."""

    name = "scripted"

    def __init__(self, script: dict[int, list[str]], fail_on: int | None = None) -> None:
        self.script = script
        self.fail_on = fail_on

    def decode(self, image: Frame) -> list[str]:
        n = int(image[0, 0])
        if n == self.fail_on:
            raise RuntimeError("decoder bug")
        return self.script.get(n, [])

    def decode_frame(self, image: Frame) -> list[str]:
        return self.decode(image)


def numbered(n: int) -> Frame:
    frame = BLANK.copy()
    frame[0, 0] = n
    return frame


def opener(captures: Iterator[Capture]) -> Callable[[str | int], Capture]:
    def open_capture(source: str | int) -> Capture:
        return next(captures, FakeCapture([], opened=False))

    return open_capture


def camera(collector: Collector, decoder: ScriptedDecoder, captures: list[FakeCapture]) -> CameraScanner:
    return CameraScanner(
        "/dev/v4l/by-id/usb-Test_Camera-video-index0", collector, decoder=decoder, max_fps=200.0,
        cpu_budget=1.0, dedupe=Deduplicator(gone_after=60, repeat_after=60),
        backoff=Backoff(initial=0.01, maximum=0.05), open_capture=opener(iter(captures)), max_failed_reads=1,
    )  # fmt: skip


def test_a_code_in_many_frames_is_one_event_with_the_camera_as_device() -> None:
    collector = Collector()
    decoder = ScriptedDecoder({n: ["286543210987654321"] for n in range(10)})
    with camera(collector, decoder, [FakeCapture([numbered(n) for n in range(10)])]) as cam:
        collector.wait_state(DeviceState.RECONNECTING)  # the frames ran out
        assert cam.frames_decoded == 10
    [scan] = collector.scans()
    assert (scan.code, scan.source, scan.device) == ("286543210987654321", SourceKind.CAMERA, cam.device)


def test_a_stream_url_s_password_never_leaves_the_driver() -> None:
    """The device name is on every surface (ECR events, status page, metrics, logs, thread names)."""
    collector = Collector()
    decoder = ScriptedDecoder({0: ["VIP0001234"]})
    url = "rtsp://admin:S3cr3t-pw@192.168.1.64/stream"
    opened: list[str | int] = []

    def open_capture(source: str | int) -> Capture:
        opened.append(source)
        return FakeCapture([numbered(0)])

    cam = CameraScanner(url, collector, decoder=decoder, max_fps=200.0, cpu_budget=1.0, open_capture=open_capture,
                        backoff=Backoff(initial=0.01, maximum=0.05), max_failed_reads=1)  # fmt: skip
    with cam:
        collector.wait_scans(1)
    assert opened[0] == url  # OpenCV gets the real address
    assert cam.device == "rtsp://admin:***@192.168.1.64/stream"
    assert all("S3cr3t-pw" not in repr(event) for event in collector.events)


def test_camera_lost_is_reopened_with_backoff() -> None:
    collector = Collector()
    decoder = ScriptedDecoder({1: ["FIRST"], 2: ["SECOND"]})
    captures = [FakeCapture([numbered(1)]), FakeCapture([], opened=False), FakeCapture([numbered(2)])]
    with camera(collector, decoder, captures):
        collector.wait_scans(2)
    assert [s.code for s in collector.scans()] == ["FIRST", "SECOND"]
    assert collector.states()[:3] == [DeviceState.CONNECTED, DeviceState.RECONNECTING, DeviceState.CONNECTED]
    assert all(c.released for c in captures)


def test_decoder_failure_and_garbage_codes_are_warnings_not_crashes() -> None:
    collector = Collector()
    decoder = ScriptedDecoder({2: ["BAD\x00CODE"], 3: ["x" * 5000], 4: ["GOOD"]}, fail_on=1)
    with camera(collector, decoder, [FakeCapture([numbered(n) for n in (1, 2, 3, 4)])]):
        collector.wait_scans(1)
    assert [s.code for s in collector.scans()] == ["GOOD"]
    reasons = [w.reason for w in collector.warnings()]
    assert reasons[0] == "decoder failed: RuntimeError"
    assert "control characters" in reasons[1]
    assert "longer than" in reasons[2]


def test_opencv_plays_a_simulated_camera_video(tmp_path: Path) -> None:
    video = tmp_path / "scene.avi"
    write_video(video, scene_frames(Scene("VIP0001234", angle=10, blur=0.8, noise=5), 10))
    collector = Collector()
    with CameraScanner(str(video), collector, max_fps=100.0, cpu_budget=1.0):
        collector.wait_scans(1)
    assert collector.scans()[0].code == "VIP0001234"
    assert collector.states()[0] is DeviceState.CONNECTED


def test_a_missing_camera_is_reported_as_reconnecting(tmp_path: Path) -> None:
    collector = Collector()
    with CameraScanner(str(tmp_path / "no-such-camera.avi"), collector, backoff=Backoff(0.01, 0.05)):
        collector.wait_state(DeviceState.RECONNECTING)
    assert collector.scans() == []


@pytest.mark.parametrize(
    ("decode_seconds", "max_fps", "cpu_budget", "interval"),
    [
        (0.005, 10.0, 0.5, 0.1),  # fast decoding: the fps cap rules
        (0.1, 10.0, 0.5, 0.2),  # slow decoding: wait so decoding uses at most half a core
        (0.02, 30.0, 0.25, 0.08),
    ],
)
def test_frame_interval_respects_fps_cap_and_cpu_budget(
    decode_seconds: float, max_fps: float, cpu_budget: float, interval: float
) -> None:
    assert frame_interval(decode_seconds, max_fps=max_fps, cpu_budget=cpu_budget) == pytest.approx(interval)


def test_live_camera_code_shown_taken_away_shown_again_and_camera_replugged() -> None:
    collector = Collector()
    dedupe = Deduplicator(gone_after=0.3, repeat_after=60)
    with CameraStreamSimulator(fps=30) as live:
        live.show(Scene(None, width=320, height=240))
        with CameraScanner(live.url, collector, max_fps=30, dedupe=dedupe, backoff=Backoff(0.05, 0.2)):
            collector.wait_state(DeviceState.CONNECTED)
            live.show(Scene("286543210987654321", width=320, height=240, size=150))
            collector.wait_scans(1)
            live.show(Scene(None, width=320, height=240))
            frames_before = live.frames_served
            poll_until(lambda: live.frames_served > frames_before + 20)  # well past gone_after
            live.show(Scene("286543210987654321", width=320, height=240, size=150))
            collector.wait_scans(2)
            live.unplug()
            collector.wait_state(DeviceState.RECONNECTING)
            live.replug()
            collector.wait_state(DeviceState.CONNECTED, occurrences=2)
    assert [s.code for s in collector.scans()][:2] == ["286543210987654321"] * 2


def test_an_idle_camera_reads_each_frame_once(reads: ReadSpy) -> None:
    """Frames with no code, the common case at a till, are not read again in other ways (3x the CPU)."""
    collector = Collector()
    frames = [render(Scene(None, seed=seed)) for seed in range(12)]
    cam = CameraScanner(
        "/dev/video0", collector, decoder=ZxingDecoder(clock=Ticks()), max_fps=200.0, cpu_budget=1.0,
        backoff=Backoff(initial=0.01, maximum=0.05), open_capture=opener(iter([FakeCapture(frames)])),
        max_failed_reads=1,
    )  # fmt: skip
    with cam:
        collector.wait_state(DeviceState.RECONNECTING)  # the frames ran out
        assert cam.frames_decoded == 12
    assert len(reads.calls) == 12
