"""A chain at scale on this machine: thousands of tills on one Mosquitto, callbacks through two relays.

Provisions the chain with `posagent fleet provision`'s own code (a key, a password and ACL lines per till),
starts a real Mosquitto with those accounts (TLS), two `posagent relay run` processes, and a pool of
simulated tills (bench/fleet_tills.py: real MQTT 5 clients, each its own persistent session, committing
each callback to a durable outbox before acknowledging it). A fifth of the tills is away while the
customers' GETs arrive and comes back halfway; then every callback must be committed exactly once.

Figures: delivery latency from the relay receiving the GET to the commit at the till (p50, p99; the
tills that were away are reported apart: their delay is the time they were away), delivered and
duplicated counts, the broker's CPU and memory per 1,000 connected tills, the relays' throughput.

Run: .venv/bin/python bench/bench_fleet.py [--tills 2000] [--callbacks 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from fleet_tills import Delivery, SimulatedTill, TillPool  # noqa: E402

from agent.fleet.messages import PAYLOAD_KEY_LABEL  # noqa: E402
from agent.fleet.topics import TillRef  # noqa: E402
from agent.members import out_string  # noqa: E402
from offline_queue import create_key_file, load_key_file  # noqa: E402
from relay.provision.accounts import Account  # noqa: E402
from relay.provision.files import provision  # noqa: E402
from tests.support.broker import Broker, free_port  # noqa: E402

CHAIN = "bench"
APP_ID = "2021000000000001"
TEMPLATE_ID = "20240101000000000001"
PATH = "/alipay/open-card"
AWAY_SHARE = 0.2
DELIVERY_LIMIT_SECONDS = 300.0


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children (the broker) inherit it


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks of 1/100 s


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tills_of(count: int) -> list[TillRef]:
    return [TillRef(CHAIN, f"S{n // 4:04d}", f"T{n % 4}") for n in range(count)]


def relay_config(hq: Path, broker: Broker, port: int) -> Path:
    bundle = hq / "bundles" / "relay"
    path = hq / f"relay-{port}.toml"
    path.write_text(f"""
[relay]
public_url = "https://cards.example.com{PATH}"
host = "127.0.0.1"
port = {port}
path = "{PATH}"

[chain]
id = "{CHAIN}"
app_id = "{APP_ID}"
template_ids = ["{TEMPLATE_ID}"]

[broker]
url = "{broker.mqtt_url}"
username = "relay"
password_file = "{bundle / "relay_password"}"
ca_file = "{broker.ca_file}"

[keys]
dir = "{hq / "keys"}"

[limits]
per_source_per_minute = 100000
total_per_minute = 1000000

[metrics]
host = "127.0.0.1"
port = {free_port()}
""")
    return path


def start_relay(config: Path, log: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "relay", "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True)  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    if not first.startswith("https://"):
        raise RuntimeError(f"the relay did not start: {first!r}\n{log.read_text()}")
    return process


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def send_callbacks(urls: list[str], plan: list[tuple[TillRef, bytes, str]], *, concurrency: int,
                         halfway: asyncio.Event) -> dict[int, int]:  # fmt: skip
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[int, TillRef, bytes, str]] = asyncio.Queue()
    for n, (till, key, request_id) in enumerate(plan):
        queue.put_nowait((n, till, key, request_id))

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            n, till, key, request_id = queue.get_nowait()
            if n == len(plan) // 2:
                halfway.set()
            slip = out_string.SlipRef(till.store, till.till, f"E{n}")
            params = {"app_id": APP_ID, "auth_code": f"code{request_id}", "template_id": TEMPLATE_ID,
                      "request_id": request_id, "scope": "auth_ecard", "out_string": out_string.encode(key, slip)}
            for _attempt in range(5):  # the customer's browser retries a 503
                answer = await http.get(urls[n % len(urls)], params=params)
                if answer.status_code != 503:
                    break
                await asyncio.sleep(0.5)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency * 2)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return statuses


async def run(args: argparse.Namespace, tmp: Path) -> None:
    raise_open_files()
    hq = tmp / "hq"
    refs = tills_of(args.tills)
    started = time.monotonic()
    provision(hq, CHAIN, Account.service("relay", "relay"))
    for ref in refs:
        provision(hq, CHAIN, Account.for_till(ref))
    provisioning = time.monotonic() - started
    tills = [SimulatedTill(ref, (hq / "bundles" / ref.name / "fleet_password").read_text().strip(),
                           load_key_file(hq / "keys" / f"{ref.name}.key").derive(PAYLOAD_KEY_LABEL))
             for ref in refs]  # fmt: skip
    mac_keys = {ref: load_key_file(hq / "keys" / f"{ref.name}.key").derive(out_string.KEY_LABEL) for ref in refs}
    rng = random.Random(7)
    plan = [(ref, mac_keys[ref], f"{n:029d}") for n, ref in ((n, rng.choice(refs)) for n in range(args.callbacks))]

    with Broker.start(tmp / "broker", autosave_interval=60) as broker:
        broker.use_accounts(hq / "passwd", hq / "acl")
        assert broker.process is not None
        pid = broker.process.pid
        rss_before, cpu_before_connect = rss_mib(pid), cpu_seconds(pid)
        deliveries: list[Delivery] = []
        pool = TillPool(tills, host="127.0.0.1", port=broker.port, ca_file=broker.ca_file, database=tmp / "tills.db",
                        key_file=create_key_file(tmp / "outbox.key"), on_delivery=deliveries.append)  # fmt: skip
        t0 = time.monotonic()
        await pool.connect()
        connect_seconds = time.monotonic() - t0
        await asyncio.sleep(2)
        rss_connected, cpu_connected = rss_mib(pid), cpu_seconds(pid)
        away = rng.sample(tills, int(len(tills) * AWAY_SHARE))
        away_names = {t.ref.name for t in away}
        await pool.disconnect(away)

        ports = [free_port(), free_port()]
        relays = [start_relay(relay_config(hq, broker, port), tmp / f"relay-{port}.log") for port in ports]
        try:
            for port in ports:
                await wait_listening(port)
            urls = [f"http://127.0.0.1:{port}{PATH}" for port in ports]
            halfway = asyncio.Event()

            async def come_back() -> None:
                await halfway.wait()
                await pool.connect(away)

            cpu_run_start, t_run = cpu_seconds(pid), time.monotonic()
            back = asyncio.create_task(come_back())
            statuses = await send_callbacks(urls, plan, concurrency=args.concurrency, halfway=halfway)
            sending = time.monotonic() - t_run
            await back
            expected = statuses.get(200, 0)
            deadline = time.monotonic() + DELIVERY_LIMIT_SECONDS
            while len({d.request_id for d in deliveries}) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            run_seconds = time.monotonic() - t_run
            cpu_run = cpu_seconds(pid) - cpu_run_start
        finally:
            for process in relays:
                process.terminate()
                process.wait(timeout=10)

    unique = {d.request_id for d in deliveries}
    present = [d.latency for d in deliveries if d.till not in away_names and not d.duplicate]
    returning = [d.latency for d in deliveries if d.till in away_names and not d.duplicate]
    per_thousand = 1000 / len(tills)

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")

    print(f"chain of {len(tills)} tills ({len(tills) // 4} stores), {args.callbacks} callbacks via 2 relays, "
          f"{len(away)} tills away until halfway")  # fmt: skip
    print(f"  provisioning (key, password, ACL per till)   {provisioning:6.1f} s")
    print(f"  {len(tills)} tills connected (TLS, persistent sessions)   {connect_seconds:6.1f} s")
    print(f"  relays answered      {dict(sorted(statuses.items()))} in {sending:.1f} s "
          f"({args.callbacks / sending:.0f} GET/s)")  # fmt: skip
    print(f"  committed at tills   {len(unique)} of {expected} accepted ({100 * len(unique) / max(expected, 1):.1f} %),"
          f" {sum(d.duplicate for d in deliveries)} redelivered (absorbed by the idempotency key)")  # fmt: skip
    print(f"  latency, tills present   p50 {pct(present, 0.5):7.1f} ms   p99 {pct(present, 0.99):7.1f} ms   "
          f"(n={len(present)}; target p99 <= 250 ms)")  # fmt: skip
    print(f"  latency, tills away      p50 {pct(returning, 0.5):7.1f} ms   p99 {pct(returning, 0.99):7.1f} ms   "
          f"(n={len(returning)}; includes the time they were away)")  # fmt: skip
    print(f"  broker memory            {rss_before:.1f} MiB idle, {rss_connected:.1f} MiB with the tills: "
          f"{(rss_connected - rss_before) * per_thousand:.1f} MiB per 1,000 tills")  # fmt: skip
    print(f"  broker CPU               connecting: {cpu_connected - cpu_before_connect:.1f} s; the run: "
          f"{cpu_run:.1f} s over {run_seconds:.1f} s = {100 * cpu_run / run_seconds:.0f} % of a core "
          f"({cpu_run * per_thousand:.2f} CPU-s per 1,000 tills)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tills", type=int, default=2000)
    parser.add_argument("--callbacks", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
