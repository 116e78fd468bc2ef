"""A password planted in the camera's stream URL, the printer's address and the gateway URL, looked for
on every surface of the running daemon: ECR events and status.get, the status page, /metrics, the
daemon's log, the support bundle. The devices still work: only what people see is masked."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx

from hardware_sim.camera import Scene
from hardware_sim.camera_stream import CameraStreamSimulator
from hardware_sim.printer import PrinterSimulator
from tests.support.daemon import TOKEN, Daemon, free_port, write_store_files
from tests.support.gateway import Store as GatewayStore

SECRET = "S3cr3t-pw-4711"
CARD = "LOTUS0001234"


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://tech:{SECRET}@{rest}"


def test_no_surface_shows_a_device_or_gateway_password(tmp_path: Path, simulated_gateway: GatewayStore) -> None:
    with CameraStreamSimulator(fps=20) as camera, PrinterSimulator(tmp_path / "slips", paper_mm=58) as printer:
        camera_url = with_password(camera.url)
        extra = f"""
[codes]
card_prefixes = ["LOTUS"]

[printer]
uri = "tcp://tech:{SECRET}@127.0.0.1:{printer.port}"
paper_mm = 58

[camera]
source = "{camera_url}"
"""
        port, status_port = free_port(), free_port()
        config = write_store_files(tmp_path, with_password(simulated_gateway.gateway.url),
                                   simulated_gateway.gateway.alipay_public_key_pem, port, extra,
                                   status_port=status_port)  # fmt: skip
        daemon = Daemon(config, port, tmp_path / "daemon.log", status_port=status_port)
        daemon.start()
        try:
            with daemon.ecr() as ecr:
                camera.show(Scene(CARD))
                scan = ecr.wait_for("scan", lambda body: body.get("code") == CARD, timeout=30)
                status = ecr.request("status.get")
            surfaces = {"scan event": json.dumps(scan), "status.get": json.dumps(status)}
            assert scan["body"]["device"] == with_password(camera.url).replace(SECRET, "***")  # the camera reads

            base = f"http://127.0.0.1:{status_port}"
            surfaces["/metrics"] = httpx.get(f"{base}/metrics", timeout=10).text
            with httpx.Client(base_url=base, timeout=10) as browser:
                browser.post("/login", data={"token": TOKEN})
                surfaces["status page"] = browser.get("/").text
                assert "tech:***@127.0.0.1" in surfaces["status page"]
        finally:
            daemon.stop()
        surfaces["daemon log"] = (tmp_path / "daemon.log").read_text()
        surfaces["support bundle"] = bundle_text(config, tmp_path / "bundle")

    leaks = [name for name, text in surfaces.items() if SECRET in text]
    assert leaks == []


def bundle_text(config: Path, output: Path) -> str:
    output.mkdir()
    subprocess.run([sys.executable, "-m", "agent.cli.main", "support-bundle", "--config", str(config),
                    "--output", str(output), "--no-doctor"], check=True, capture_output=True, timeout=120)  # fmt: skip
    texts = []
    for archive in output.iterdir():
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    texts.append(extracted.read().decode("utf-8", "replace"))
    assert texts
    return "\n".join(texts)
