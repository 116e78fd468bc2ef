"""What the fleet link costs an idle till: RSS and CPU of `posagent run`, with and without [fleet], side by
side in one run (same config otherwise: membership cards, a printer, the status page).

Starts a real Mosquitto (TLS, passwords, ACL), the simulated gateway and printer in this process, and
each daemon as a child process (as systemd would). Idle: no ECR request, no callback; the link keeps
its connection (keep-alive 60 s) and republishes its status every minute. Bounded in time.

Run: .venv/bin/python bench/bench_fleet_idle.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.fleet.topics import TillRef  # noqa: E402
from bench.bench_daemon import proc_cpu_seconds, rss_mib  # noqa: E402
from hardware_sim.gateway import GatewaySimulator  # noqa: E402
from hardware_sim.printer import PrinterSimulator  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.daemon import Daemon, free_port, write_store_files  # noqa: E402
from tests.support.fleet import provision_headquarters, provision_till  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402

SETTLE_SECONDS = 5.0
IDLE_SECONDS = 60.0  # long enough for the heartbeat status and a keep-alive ping


def members(template_id: str, printer_port: int) -> str:
    return f"""
[printer]
uri = "tcp://127.0.0.1:{printer_port}"

[members]
template_id = "{template_id}"
callback_url = "https://cards.example.com/alipay/open-card"
"""


def measure(root: Path, gateway: GatewaySimulator, extra: str) -> tuple[float, float]:
    """(RSS MiB after settling, CPU ms per idle minute)."""
    port = free_port()
    config = write_store_files(root, gateway.url, gateway.alipay_public_key_pem, port, extra, status_port=free_port())
    daemon = Daemon(config, port, root / "daemon.log")
    daemon.start()
    try:
        assert daemon.process is not None
        time.sleep(SETTLE_SECONDS)
        pid = daemon.process.pid
        cpu_before = proc_cpu_seconds(pid)
        time.sleep(IDLE_SECONDS)
        cpu = proc_cpu_seconds(pid) - cpu_before
        return rss_mib(pid), cpu * 1000 * 60 / IDLE_SECONDS
    finally:
        daemon.stop()


def main() -> None:
    from cryptography.hazmat.primitives import serialization

    public_pem = _APP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GatewaySimulator(apps={APP_ID: public_pem}) as gateway, \
            PrinterSimulator(Path(tmp) / "slips", paper_mm=80) as printer, \
            Broker.start(Path(tmp) / "broker") as broker:  # fmt: skip
        provision_headquarters(broker)
        account = provision_till(broker, TillRef("acme", "SH01", "T1"), Path(tmp) / "fleet")
        base = members("20240101000000000001", printer.port)
        fleet = base + f"""
[fleet]
chain = "acme"
broker = "{broker.mqtt_url}"
key_file = "{account.key_file}"
password_file = "{account.password_file}"
ca_file = "{broker.ca_file}"
"""
        without = measure(Path(tmp) / "without", gateway, base)
        with_link = measure(Path(tmp) / "with", gateway, fleet)
    print(f"idle till over {IDLE_SECONDS:.0f} s (after {SETTLE_SECONDS:.0f} s to settle), one run, side by side:")
    print(f"  without [fleet]: RSS {without[0]:6.1f} MiB   CPU {without[1]:7.1f} ms per minute")
    print(f"  with [fleet]:    RSS {with_link[0]:6.1f} MiB   CPU {with_link[1]:7.1f} ms per minute")
    print(f"  the link adds:   RSS {with_link[0] - without[0]:+6.1f} MiB   CPU {with_link[1] - without[1]:+7.1f} ms "
          "per minute (paho's network thread, TLS, the status heartbeat)")


if __name__ == "__main__":
    main()
