"""An outage at Alipay's end, as the till sees it: how soon the agent notices, fails new sales and
tells the cashier the true reason, and how soon the reversal lands once Alipay is back.

Starts the simulated gateway in this process and `posagent run` as a child process, then for each
round: Alipay starts resetting every connection (after accepting it), a sale is started with a
payment code, and the ECR socket is watched. Bounded in rounds and time.

Run: .venv/bin/python bench/bench_outage.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402

from agent.ecr.client import EcrClient, EcrError  # noqa: E402
from agent.sales.machine import DEFAULT_PAY_DEADLINE_SECONDS  # noqa: E402
from hardware_sim.gateway import Behaviour, GatewaySimulator, example  # noqa: E402
from tests.support.daemon import Daemon, free_port, write_store_files  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402

ROUND_LIMIT_SECONDS = 90.0
EVENTS = ("Alipay shown offline", "new sale refused", "sale reversing, reason shown", "cancelled once Alipay is back")


def one_round(ecr: EcrClient, gateway: GatewaySimulator, n: int) -> dict[str, float]:
    """Seconds from the outage's start to each event of EVENTS (the last: from Alipay's return)."""
    gateway.set_faults()
    while not ecr.request("status.get")["network"]["online"]:
        time.sleep(0.05)
    sale_id = f"O{n}"
    gateway.outage(600)
    started = time.monotonic()
    ecr.request("sale.start", {"sale_id": sale_id, "amount": "15", "subject": "Till 1",
                               "code": example(Behaviour.PAID)})  # fmt: skip
    seen: dict[str, float] = {}
    while len(seen) < 3 and time.monotonic() - started < ROUND_LIMIT_SECONDS:
        now = time.monotonic() - started
        if EVENTS[0] not in seen and not ecr.request("status.get")["network"]["online"]:
            seen[EVENTS[0]] = now
        if EVENTS[1] not in seen:
            try:
                ecr.request("sale.start", {"sale_id": f"X{n}", "amount": "1", "subject": "Till 1"})
                raise AssertionError("a new sale was accepted during the outage")
            except EcrError as exc:
                if exc.code == "NETWORK_UNAVAILABLE":
                    seen[EVENTS[1]] = now
        sale = ecr.request("sale.get", {"sale_id": sale_id})["sale"]
        if EVENTS[2] not in seen and sale["state"] == "reversing" and "unreachable" in (sale["reason"] or ""):
            seen[EVENTS[2]] = now
        time.sleep(0.02)
    back = time.monotonic()
    gateway.set_faults()
    while time.monotonic() - back < ROUND_LIMIT_SECONDS:
        sale = ecr.request("sale.get", {"sale_id": sale_id})["sale"]
        if sale["state"] == "cancelled":
            assert sale["reason"].startswith("Alipay was unreachable"), sale["reason"]
            seen[EVENTS[3]] = time.monotonic() - back
            break
        time.sleep(0.05)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    public = _APP_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GatewaySimulator(apps={APP_ID: public}) as gateway:
        port = free_port()
        config = write_store_files(Path(tmp), gateway.url, gateway.alipay_public_key_pem, port)
        daemon = Daemon(config, port, Path(tmp) / "daemon.log")
        daemon.start()
        try:
            with daemon.ecr() as ecr:
                rounds = [one_round(ecr, gateway, n) for n in range(args.rounds)]
        finally:
            daemon.stop()
    print(f"Alipay resets every connection; a sale is started at once ({args.rounds} rounds)")
    for key in EVENTS:
        values = [r[key] for r in rounds if key in r]
        missed = len(rounds) - len(values)
        shown = f"median {statistics.median(values):5.2f} s   worst {max(values):5.2f} s" if values else "never"
        print(f"  {key:32s} {shown}" + (f"   ({missed} rounds never)" if missed else ""))
    print(f"  (the sale's own deadline, the only way out before: {DEFAULT_PAY_DEADLINE_SECONDS:.0f} s)")


if __name__ == "__main__":
    main()
