"""The daemon as the ECR sees it: round trips, scan-to-event latency, idle footprint, cold start.

Starts the simulated gateway, printer and serial scanner in this process and `posagent run` as a
child process (as systemd would), then measures over its real sockets. Bounded in count and time.

Run: .venv/bin/python bench/bench_daemon.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.daemon.devices import PRINTER_POLL_SECONDS  # noqa: E402
from agent.ecr.client import EcrClient  # noqa: E402
from hardware_sim.gateway import GatewaySimulator  # noqa: E402
from hardware_sim.printer import PrinterSimulator  # noqa: E402
from hardware_sim.scanner import SerialScannerSimulator  # noqa: E402
from tests.support.daemon import TOKEN, Daemon, free_port, write_store_files  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402

ROUND_TRIPS = 2000
SCANS = 200
IDLE_SECONDS = 10.0
COLD_STARTS = 3


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms   (n={len(ordered)})"


def round_trips(ecr: EcrClient) -> list[float]:
    samples = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter()
        ecr.request("status.get")
        samples.append(time.perf_counter() - start)
    return samples


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    from cryptography.hazmat.primitives import serialization

    public = _APP_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GatewaySimulator(apps={APP_ID: public}) as gateway, \
            PrinterSimulator(Path(tmp) / "slips") as printer, \
            SerialScannerSimulator(link_path=str(Path(tmp) / "scanner")) as scanner:  # fmt: skip
        port = free_port()
        extra = f'\n[printer]\nuri = "tcp://127.0.0.1:{printer.port}"\n\n[[scanners]]\npath = "{scanner.path}"\n'
        config = write_store_files(Path(tmp), gateway.url, gateway.alipay_public_key_pem, port, extra)
        config.write_text(config.read_text().replace("heartbeat_seconds = 1.0", "heartbeat_seconds = 15.0"))
        daemon = Daemon(config, port, Path(tmp) / "daemon.log")

        starts = []
        for _ in range(COLD_STARTS):
            begin = time.perf_counter()
            daemon.start()
            with daemon.ecr():
                starts.append(time.perf_counter() - begin)
            daemon.stop()
        daemon.start()
        assert daemon.process is not None
        pid = daemon.process.pid
        try:
            with daemon.ecr() as ecr:
                tcp = round_trips(ecr)
            with EcrClient.connect(Path(tmp) / "ecr.sock", token=TOKEN) as ecr:
                unix = round_trips(ecr)
            with daemon.ecr() as ecr:
                latencies = []
                for i in range(SCANS):
                    begin = time.perf_counter()
                    scanner.scan(f"LOTUS{i:010d}")
                    ecr.wait_for("scan", timeout=10)
                    latencies.append(time.perf_counter() - begin)
            time.sleep(2.0)  # let start-up work (first printer poll, connectivity probe) settle
            cpu_before = proc_cpu_seconds(pid)
            time.sleep(IDLE_SECONDS)
            idle_cpu = (proc_cpu_seconds(pid) - cpu_before) / IDLE_SECONDS
            rss = rss_mib(pid)
        finally:
            daemon.stop()

    print("Daemon, measured over its real sockets (gateway, printer and scanner simulated)")
    print(f"  status.get round trip, TCP     {percentiles(tcp)}")
    print(f"  status.get round trip, Unix    {percentiles(unix)}")
    print(f"  scan -> 'scan' event (pty)     {percentiles(latencies)}")
    print(f"  idle, no camera: RSS {rss:.1f} MiB, CPU {idle_cpu * 100:.2f}% of one core over {IDLE_SECONDS:.0f} s "
          f"(printer polled every {PRINTER_POLL_SECONDS:g} s)")
    print(f"  cold start to ready (process start -> hello answered): "
          f"median {statistics.median(starts):.2f} s, runs {', '.join(f'{s:.2f}' for s in starts)} s")


if __name__ == "__main__":
    main()
