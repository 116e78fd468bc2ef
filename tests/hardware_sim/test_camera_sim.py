"""The camera simulator: scenes, image files and videos that OpenCV opens like a camera."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from hardware_sim.camera import Scene, qr_image, render, scene_frames, write_image, write_video
from hardware_sim.cli import main
from tests.support.shared_data import shared_data

PHOTO = next((shared_data() / "qr-photos" / "qrcode-1").glob("*.png"))


def zxing_texts(frame: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(frame)]


def test_a_scene_is_a_camera_frame_with_a_readable_qr() -> None:
    frame = render(Scene("286543210987654321", size=180, angle=30, blur=1.0, noise=6))
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert zxing_texts(frame) == ["286543210987654321"]


def test_frame_size_and_position_are_honoured() -> None:
    frame = render(Scene("X", width=1280, height=720, center=(0.1, 0.9)))
    assert frame.shape == (720, 1280, 3)


def test_a_qr_partly_outside_the_frame_does_not_crash() -> None:
    assert render(Scene("EDGE", size=300, center=(1.0, 1.0))).shape == (480, 640, 3)
    assert render(Scene("GONE", center=(5.0, 5.0))).shape == (480, 640, 3)


def test_scenes_are_reproducible_from_their_seed() -> None:
    scene = Scene("SAME", noise=8, seed=3)
    assert np.array_equal(render(scene), render(scene))
    assert not np.array_equal(render(scene), render(Scene("SAME", noise=8, seed=4)))


def test_an_empty_scene_has_clutter_but_no_code() -> None:
    frame = render(Scene(None))
    assert frame.std() > 10  # not a blank wall
    assert zxing_texts(frame) == []


def test_qr_image_is_black_on_white_at_the_requested_size() -> None:
    image = qr_image("hello", 150)
    assert image.shape == (150, 150)
    assert set(np.unique(image)) == {0, 255}


def test_video_opens_in_opencv_with_every_frame(tmp_path: Path) -> None:
    video = tmp_path / "scene.avi"
    assert write_video(video, scene_frames(Scene("VIDEO", noise=4), 12), fps=30) == 12
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    capture.release()
    assert len(frames) == 12
    assert zxing_texts(frames[-1]) == ["VIDEO"]
    assert not np.array_equal(frames[0], frames[1])  # fresh sensor noise in each frame


def test_unwritable_outputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot write image"):
        write_image(tmp_path / "frame.unknown", render(Scene("X")))
    with pytest.raises(OSError, match="cannot write video"):
        write_video(tmp_path / "missing-dir" / "v.avi", scene_frames(Scene("X"), 1))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["camera", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_a_scene_image_and_a_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, video = tmp_path / "scene.png", tmp_path / "scene.avi"
    assert run_cli(capsys, "--content", "CLI-CODE", "--angle", "20", "--out", str(image))[0] == 0
    assert zxing_texts(cv2.imread(str(image))) == ["CLI-CODE"]
    code, out, _ = run_cli(capsys, "--content", "C", "--frames", "5", "--frame", "320x240", "--out", str(video))
    assert code == 0 and "5 frames, 320x240" in out


def test_cli_makes_a_video_from_image_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "photos.avi"
    code, _, err = run_cli(capsys, "--images", str(PHOTO), str(PHOTO), "--out", str(video))
    assert code == 0, err
    assert int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) == 2


def test_cli_rejects_bad_input_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--frame", "big", "--out", str(tmp_path / "x.png"))[0] == 2
    code, _, err = run_cli(capsys, "--images", str(tmp_path / "none.png"), "--out", str(tmp_path / "x.avi"))
    assert code == 1 and "cannot read image" in err
