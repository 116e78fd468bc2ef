"""`posagent devices` and `posagent scan-test`, run in-process against the simulators."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agent.cli.main import main
from hardware_sim.camera import Scene, render, write_image
from hardware_sim.scanner import SerialScannerSimulator

PAYMENT_CODE = "286543210987654321"


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_scan_test_decodes_images_one_json_line_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payment, card = tmp_path / "payment.png", tmp_path / "card.png"
    write_image(payment, render(Scene(PAYMENT_CODE, angle=15, blur=0.8)))
    write_image(card, render(Scene("VIP0001234")))
    missing = tmp_path / "missing.png"
    argv = ["scan-test", "--image", str(payment), str(card), str(missing), "--card-prefix", "VIP", "--json"]
    assert main(argv) == 2  # one file could not be read
    first, second, third = json_lines(capsys.readouterr().out)
    assert first["codes"] == [{"class": "alipay_payment", "supported": True, "detail": "18 digits",
                               "code": "28************4321"}]  # fmt: skip
    assert second["codes"][0]["class"] == "member_card"  # type: ignore[index]
    assert third == {"file": str(missing), "error": "cannot read image"}


def test_scan_test_image_with_pyzbar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "code.png"
    write_image(image, render(Scene("https://example.com/shop")))
    assert main(["scan-test", "--image", str(image), "--decoder", "pyzbar"]) == 0
    out = capsys.readouterr().out
    assert "1 code(s)" in out and "(pyzbar)" in out and "url: https://example.com/shop" in out


def test_scan_test_shows_serial_codes_masked_with_class_and_device(capsys: pytest.CaptureFixture[str]) -> None:
    with SerialScannerSimulator() as sim:

        def scan_when_listening() -> None:
            # The scanner is opened by the command; retry until a reader is there to see it.
            for _ in range(100):
                sim.scan(PAYMENT_CODE)
                if stop.wait(0.1):
                    return

        stop = threading.Event()
        feeder = threading.Thread(target=scan_when_listening)
        feeder.start()
        try:
            assert main(["scan-test", "--serial", sim.path, "--count", "1", "--seconds", "20", "--json"]) == 0
        finally:
            stop.set()
            feeder.join()
    out = capsys.readouterr().out
    assert PAYMENT_CODE not in out
    scans = [e for e in json_lines(out) if e["event"] == "scan"]
    assert scans[0] == {"event": "scan", "device": sim.path, "source": "serial", "class": "alipay_payment",
                        "supported": True, "detail": "18 digits", "code": "28************4321",
                        "symbology": None}  # fmt: skip


def test_scan_test_needs_something_to_test(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan-test"]) == 2
    assert "nothing to test" in capsys.readouterr().err


def test_devices_json_can_be_limited_to_one_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--json", "--kind", "camera"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"devices", "errors"}
    assert all(d["kind"] == "camera" for d in result["devices"])


def test_devices_human_output_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.strip()


def test_scan_test_offers_exactly_the_camera_drivers_decoders() -> None:
    from agent.cli.scan_test import DECODER_NAMES
    from drivers.camera.decoders import DECODERS

    assert sorted(DECODER_NAMES) == sorted(DECODERS)
