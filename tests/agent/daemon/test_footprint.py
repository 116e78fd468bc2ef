"""`posagent run` loads the libraries of the devices it is configured for, and no others.

The daemon runs as a real child process with PYTHONPROFILEIMPORTTIME set: Python then writes each module
it imports to stderr (the daemon's log), which tells what the running daemon loaded. Figures (RSS, cold
start) are in bench/bench_footprint.py; these tests pin the behaviour behind them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.ecr.client import EcrClient
from hardware_sim.camera import Scene
from hardware_sim.camera_stream import CameraStreamSimulator
from hardware_sim.printer import PrinterSimulator
from hardware_sim.scanner import SerialScannerSimulator
from tests.support.daemon import Daemon, free_port, write_store_files
from tests.support.gateway import Store as GatewayStore

CAMERA = {"cv2", "numpy", "zxingcpp", "pyzbar"}  # OpenCV brings numpy; the decoders load native libraries
PRINTING = {"escpos.escpos", "escpos.capabilities", "qrcode", "PIL", "barcode", "yaml"}  # slips, on the first one
OTHERS = {"paho", "usb", "evdev"}  # fleet link, USB printers, HID scanners: none configured here


def imported(log: Path) -> set[str]:
    """The modules the daemon imported, from `-X importtime` lines: "import time: self | cumulative | name".

    A module loaded through importlib.import_module gets no line of its own (sqlite-utils loads numpy that
    way), its submodules do: every parent package of a listed module counts as loaded too.
    """
    names = {line.rsplit("|", 1)[1].strip() for line in log.read_text(errors="replace").splitlines()
             if line.startswith("import time:") and line.count("|") == 2}  # fmt: skip
    return {".".join(parts[:i]) for parts in (n.split(".") for n in names) for i in range(1, len(parts) + 1)}


def wait_device(ecr: EcrClient, kind: str, state: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(d["kind"] == kind and d["state"] == state for d in ecr.request("status.get")["devices"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"the {kind} never reached {state}")


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[PrinterSimulator, SerialScannerSimulator]]:
    with PrinterSimulator(tmp_path / "slips") as printer, \
            SerialScannerSimulator(link_path=str(tmp_path / "scanner")) as scanner:  # fmt: skip
        yield printer, scanner


def start(tmp_path: Path, gateway: GatewayStore, extra: str) -> Daemon:
    port = free_port()
    config = write_store_files(tmp_path, gateway.gateway.url, gateway.gateway.alipay_public_key_pem, port, extra)
    daemon = Daemon(config, port, tmp_path / "daemon.log", wrapper=["env", "PYTHONPROFILEIMPORTTIME=1"])
    daemon.start()
    return daemon


def store_devices(printer: PrinterSimulator, scanner: SerialScannerSimulator) -> str:
    return f'\n[printer]\nuri = "tcp://127.0.0.1:{printer.port}"\n\n[[scanners]]\npath = "{scanner.path}"\n'


def test_a_till_without_a_camera_runs_without_opencv_numpy_or_the_slip_libraries(
        tmp_path: Path, simulated_gateway: GatewayStore,
        devices: tuple[PrinterSimulator, SerialScannerSimulator]) -> None:  # fmt: skip
    daemon = start(tmp_path, simulated_gateway, store_devices(*devices))
    try:
        with daemon.ecr() as ecr:
            wait_device(ecr, "printer", "ready")  # polled over its transport: idle, not yet printing
            wait_device(ecr, "scanner", "connected")
            loaded = imported(daemon.log)
    finally:
        daemon.stop()
    assert "agent.daemon.app" in loaded  # the log does list the daemon's imports
    assert "sqlite_utils" in loaded  # a fresh database was migrated: without numpy all the same
    assert loaded & (CAMERA | PRINTING | OTHERS) == set()


def test_the_first_slip_loads_the_slip_libraries(
        tmp_path: Path, simulated_gateway: GatewayStore,
        devices: tuple[PrinterSimulator, SerialScannerSimulator]) -> None:  # fmt: skip
    daemon = start(tmp_path, simulated_gateway, store_devices(*devices))
    try:
        with daemon.ecr() as ecr:
            wait_device(ecr, "printer", "ready")
            ecr.request("print.qr", {"job_id": "J1", "data": "https://example.com/", "lines": ["Thanks"]})
            ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "J1" and b["job"]["state"] == "printed",
                         timeout=20)  # fmt: skip
            loaded = imported(daemon.log)
    finally:
        daemon.stop()
    assert {"escpos.escpos", "qrcode"} <= loaded
    assert loaded & CAMERA == set()


def test_a_configured_camera_loads_opencv_and_its_decoder(
        tmp_path: Path, simulated_gateway: GatewayStore,
        devices: tuple[PrinterSimulator, SerialScannerSimulator]) -> None:  # fmt: skip
    with CameraStreamSimulator() as camera:
        camera.show(Scene(content=None))
        daemon = start(
            tmp_path,
            simulated_gateway,
            store_devices(*devices) + f'\n[camera]\nsource = "{camera.url}"\ndecoder = "zxing"\n',
        )
        try:
            with daemon.ecr() as ecr:
                wait_device(ecr, "camera", "connected")
                loaded = imported(daemon.log)
        finally:
            daemon.stop()
    assert {"cv2", "numpy", "zxingcpp"} <= loaded
    assert "pyzbar" not in loaded  # only the decoder chosen
