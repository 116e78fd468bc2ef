"""The doctor quotes device and gateway addresses: never with their password."""

from __future__ import annotations

from types import SimpleNamespace

from agent.config.model import CameraSettings, PrinterSettings
from agent.doctor import Finding, Status
from agent.doctor.checks.devices import check_camera_settings, check_printer_settings
from tests.support.daemon import free_port

SECRET = "S3cr3t-pw"


def shown(finding: Finding) -> str:
    return f"{finding.name} {finding.message} {finding.fix}"


def test_a_camera_stream_that_gives_no_frame_is_named_without_its_password() -> None:
    url = f"http://admin:{SECRET}@127.0.0.1:{free_port()}/video.mjpg"  # nothing listens there

    finding = check_camera_settings(CameraSettings(source=url), timeout=5.0)

    assert finding.status is Status.FAIL
    assert SECRET not in shown(finding) and "admin:***@127.0.0.1" in finding.message


def test_a_printer_that_cannot_be_opened_is_named_without_its_password() -> None:
    settings = PrinterSettings(uri=f"tcp://admin:{SECRET}@127.0.0.1:{free_port()}")
    context = SimpleNamespace(network_timeout=2.0)

    finding = check_printer_settings(settings, context)  # type: ignore[arg-type]

    assert finding.status is Status.FAIL and SECRET not in shown(finding)


def test_every_finding_masks_urls_whatever_the_check_wrote() -> None:
    finding = Finding("gateway", Status.FAIL, f"https://proxy:{SECRET}@gw.example/gateway.do unreachable",
                      f"check http://u:{SECRET}@proxy:3128")  # fmt: skip

    assert SECRET not in shown(finding) and SECRET not in str(finding.to_json())
