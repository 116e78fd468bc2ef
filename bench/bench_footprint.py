"""The daemon's footprint: idle RSS without and with a camera, cold start to ready; each next to its target.

Starts the simulated gateway, printer, serial scanner (and camera stream) in this process and `posagent run`
as a child process (as systemd would), with a config like the demo's. RSS is VmRSS from /proc/<pid>/status
once the daemon answers `hello` and its start-up work has settled. Bounded in count and time.

Run: .venv/bin/python bench/bench_footprint.py [--python PATH]

The development venv also holds the dev tools, and some libraries import optional packages when they
find them (httpx its CLI with rich and click, httpcore trio): `--python` runs the daemon with another
interpreter, e.g. a venv made with `pip install .` only, as a store PC gets it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hardware_sim.camera import Scene  # noqa: E402
from hardware_sim.camera_stream import CameraStreamSimulator  # noqa: E402
from hardware_sim.gateway import GatewaySimulator  # noqa: E402
from hardware_sim.printer import PrinterSimulator  # noqa: E402
from hardware_sim.scanner import SerialScannerSimulator  # noqa: E402
from tests.support.daemon import Daemon, free_port, write_store_files  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402

TARGET_IDLE_MIB = 60.0
TARGET_CAMERA_MIB = 100.0
TARGET_COLD_START_S = 0.6
COLD_STARTS = 5
SETTLE_SECONDS = 3.0  # first printer poll, connectivity probe, the camera's first frames


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def idle_rss(daemon: Daemon) -> tuple[float, float]:
    """RSS once idle, then again after one slip printed (the slip libraries load with the first one)."""
    daemon.start()
    assert daemon.process is not None
    try:
        with daemon.ecr() as ecr:
            time.sleep(SETTLE_SECONDS)
            idle = rss_mib(daemon.process.pid)
            ecr.request("print.qr", {"job_id": "bench-1", "data": "https://example.com/", "lines": ["bench"]})
            ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "bench-1" and b["job"]["state"] == "printed",
                         timeout=30)  # fmt: skip
            time.sleep(1.0)
            return idle, rss_mib(daemon.process.pid)
    finally:
        daemon.stop()


def cold_starts(daemon: Daemon) -> list[float]:
    starts = []
    for _ in range(COLD_STARTS):
        begin = time.perf_counter()
        daemon.start()
        with daemon.ecr():
            starts.append(time.perf_counter() - begin)
        daemon.stop()
    return starts


def interpreter_wrapper(python: str | None, tmp: Path) -> list[str]:
    """Runs `posagent run` with `python` instead of this interpreter (the Daemon helper starts sys.executable)."""
    if python is None:
        return []
    script = tmp / "with-python"
    script.write_text(f'#!/bin/sh\nshift\nexec "{python}" "$@"\n')
    os.chmod(script, 0o700)
    return [str(script)]


def main() -> None:
    from cryptography.hazmat.primitives import serialization

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="run the daemon with this interpreter (default: this one)")
    args = parser.parse_args()
    # A store PC runs compiled bytecode (pip compiles at install). Without it (PYTHONDONTWRITEBYTECODE in
    # a development shell) every start compiles the agent's ~120 modules again: not what is measured here.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([args.python or sys.executable, "-m", "compileall", "-q", *(str(ROOT / package) for package in
                    ("agent", "drivers", "offline_queue"))], check=True, timeout=300)  # fmt: skip

    public = _APP_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GatewaySimulator(apps={APP_ID: public}) as gateway, \
            PrinterSimulator(Path(tmp) / "slips") as printer, \
            SerialScannerSimulator(link_path=str(Path(tmp) / "scanner")) as scanner, \
            CameraStreamSimulator() as camera:  # fmt: skip
        camera.show(Scene(content=None))
        port = free_port()
        devices = f'\n[printer]\nuri = "tcp://127.0.0.1:{printer.port}"\n\n[[scanners]]\npath = "{scanner.path}"\n'
        config = write_store_files(Path(tmp), gateway.url, gateway.alipay_public_key_pem, port, devices)
        config.write_text(config.read_text().replace("heartbeat_seconds = 1.0", "heartbeat_seconds = 15.0"))
        daemon = Daemon(config, port, Path(tmp) / "daemon.log", wrapper=interpreter_wrapper(args.python, Path(tmp)))
        starts = cold_starts(daemon)
        no_camera, printed = idle_rss(daemon)
        config.write_text(config.read_text() + f'\n[camera]\nsource = "{camera.url}"\n')
        with_camera, _ = idle_rss(daemon)

    cold = statistics.median(starts)
    python = args.python or sys.executable
    print(f"Daemon footprint (`posagent run` with {python}; demo-like config: printer + serial scanner; "
          f"gateway simulated)")
    print(f"  idle RSS, no camera         {no_camera:6.1f} MiB   target <= {TARGET_IDLE_MIB:.0f} MiB   "
          f"{verdict(no_camera, TARGET_IDLE_MIB)}")
    print(f"  RSS after the first slip    {printed:6.1f} MiB   (no target: slip libraries load with the first slip)")
    print(f"  idle RSS, one camera        {with_camera:6.1f} MiB   target <= {TARGET_CAMERA_MIB:.0f} MiB  "
          f"{verdict(with_camera, TARGET_CAMERA_MIB)}   (simulated MJPEG camera)")
    print(f"  cold start to ready         {cold:6.2f} s     target <= {TARGET_COLD_START_S} s    "
          f"{verdict(cold, TARGET_COLD_START_S)}   (median of {COLD_STARTS}: "
          f"{', '.join(f'{s:.2f}' for s in starts)} s; process start -> hello answered, no camera; "
          f"timings depend on the machine's load)")


if __name__ == "__main__":
    main()
