"""Device addresses as people may see them: passwords masked, nothing else changed."""

from __future__ import annotations

import pytest

from drivers.addresses import display_address, redact_urls

SECRET = "S3cr3t-pw"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        (f"rtsp://admin:{SECRET}@192.168.1.64:554/Streaming/Channels/101",
         "rtsp://admin:***@192.168.1.64:554/Streaming/Channels/101"),
        (f"http://viewer:{SECRET}@cam.local/video.mjpg", "http://viewer:***@cam.local/video.mjpg"),
        (f"rtsp://{SECRET}@cam/stream", "rtsp://***@cam/stream"),  # a lone userinfo may be a key
        ("rtsp://admin:p@ss@cam/1", "rtsp://admin:***@cam/1"),  # an unencoded '@' in the password
        ("rtsp://admin:pa/ss@cam/1", "rtsp://admin:***@cam/1"),  # an unencoded '/' in the password
        ("rtsp://admin:p%40ss@cam/1", "rtsp://admin:***@cam/1"),
        (f"http://cam/snapshot.cgi?user=admin&pwd={SECRET}&res=1", "http://cam/snapshot.cgi?user=admin&pwd=***&res=1"),
        (f"http://cam/video.cgi?password={SECRET}#x", "http://cam/video.cgi?password=***#x"),
        (f"https://proxy:{SECRET}@gw.example/gateway.do?token={SECRET}", "https://proxy:***@gw.example/gateway.do?token=***"),
    ],
)  # fmt: skip
def test_passwords_are_masked(address: str, shown: str) -> None:
    assert display_address(address) == shown
    assert display_address(shown) == shown  # idempotent: a masked name can be masked again


@pytest.mark.parametrize(
    "address", ["/dev/video0", "/dev/v4l/by-id/usb-Cam-video-index0", "0", "tcp://192.168.1.50:9100",
                "usb://04b8:0e15?serial=ABC123", "serial:///dev/ttyUSB0?baud=19200&flow=rtscts",
                "http://127.0.0.1:8080/video.mjpg"],
)  # fmt: skip
def test_addresses_without_a_password_are_unchanged(address: str) -> None:
    assert display_address(address) == address


def test_a_camera_index_is_shown_as_it_is() -> None:
    assert display_address(0) == "0"


def test_every_url_in_a_message_is_masked() -> None:
    message = f"VideoCapture('rtsp://a:{SECRET}@cam/1') failed; retrying http://b:{SECRET}@cam/2, see /dev/video0"

    assert (
        redact_urls(message)
        == "VideoCapture('rtsp://a:***@cam/1') failed; retrying http://b:***@cam/2, see /dev/video0"
    )
