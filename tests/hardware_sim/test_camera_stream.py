"""The live simulated camera: an MJPEG stream OpenCV opens by URL, whose scene can change."""

from __future__ import annotations

import urllib.error
import urllib.request

import cv2
import pytest
import zxingcpp

from hardware_sim.camera import Scene
from hardware_sim.camera_stream import CameraStreamSimulator


def read_frame(url: str) -> cv2.typing.MatLike:
    capture = cv2.VideoCapture(url)
    try:
        assert capture.isOpened()
        ok, frame = capture.read()
        assert ok and frame is not None
        return frame
    finally:
        capture.release()


def test_opencv_opens_the_stream_and_sees_the_scene() -> None:
    with CameraStreamSimulator(fps=30) as camera:
        assert camera.url.startswith("http://127.0.0.1:")
        camera.show(Scene("LIVE-1", width=320, height=240, size=150))
        frame = read_frame(camera.url)
        assert frame.shape == (240, 320, 3)
        assert [r.text for r in zxingcpp.read_barcodes(frame)] == ["LIVE-1"]
        camera.show(Scene("LIVE-2", width=320, height=240, size=150))
        assert [r.text for r in zxingcpp.read_barcodes(read_frame(camera.url))] == ["LIVE-2"]


def test_unplug_refuses_connections_and_replug_serves_the_same_url() -> None:
    camera = CameraStreamSimulator(fps=30)
    with camera:
        url = camera.url
        camera.unplug()
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=5)
        camera.replug()
        assert camera.url == url
        assert read_frame(url) is not None
    assert not camera.plugged


def test_other_paths_are_not_found() -> None:
    with CameraStreamSimulator() as camera:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(camera.url.replace("video.mjpg", "other"), timeout=5)
        assert error.value.code == 404
