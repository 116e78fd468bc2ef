"""A chain of two stores with two tills each, built as headquarters builds it: `posagent fleet provision`
writes every account, a real Mosquitto serves them, `posagent relay run` is the chain's one callback
address, and four real agents (`posagent run` with `[fleet]`) link up through the broker.

Customers enroll at each till, open the card in "Alipay" (the simulated customer, who follows the
callback to the relay as a phone would), and each card opens at the till that printed the slip, once,
and nowhere else."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.ecr.client import EcrClient
from agent.fleet.topics import TillRef
from hardware_sim.customer import open_card
from hardware_sim.printer import PrinterSimulator
from tests.support.broker import Broker
from tests.support.daemon import Daemon, card_template, free_port, write_store_files
from tests.support.gateway import APP_ID
from tests.support.gateway import Store as GatewayStore
from tests.support.relay_process import RelayProcess

pytestmark = pytest.mark.timeout(240)

CHAIN = "acme"
TILLS = [TillRef(CHAIN, store, till) for store in ("S1", "S2") for till in ("T1", "T2")]


def posagent(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "agent.cli.main", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class Till:
    ref: TillRef
    daemon: Daemon
    printer: PrinterSimulator


@dataclass
class Chain:
    relay: RelayProcess
    tills: dict[TillRef, Till]
    gateway: GatewayStore


def relay_config(hq: Path, template_id: str) -> Path:
    snippet = (hq / "bundles" / "relay" / "relay.toml").read_text()
    snippet = snippet.replace("[chain]\n", f'[chain]\napp_id = "{APP_ID}"\ntemplate_ids = ["{template_id}"]\n')
    config = hq / "relay-a" / "relay.toml"
    config.parent.mkdir()
    config.write_text(f"""[relay]
public_url = "https://cards.example.com/alipay/open-card"
host = "127.0.0.1"
port = {free_port()}

[metrics]
port = {free_port()}

{snippet}""")
    return config


def till_config(root: Path, hq: Path, ref: TillRef, *, gateway: GatewayStore, template_id: str, relay_url: str,
                printer_port: int) -> tuple[Path, int]:  # fmt: skip
    """The till's agent.toml: the store's usual set-up, plus the [fleet] section of its provisioned bundle
    (pointing at the bundle's files instead of /etc/posagent)."""
    bundle = hq / "bundles" / ref.name
    fleet = (bundle / "fleet.toml").read_text().replace("/etc/posagent/", f"{bundle}/")
    extra = f"""
[printer]
uri = "tcp://127.0.0.1:{printer_port}"
paper_mm = 80

[members]
template_id = "{template_id}"
callback_url = "{relay_url}"
level = "VIP1"
initial_points = "100"

{fleet}keepalive_seconds = 5
status_interval_seconds = 0.5
"""
    port = free_port()
    config = write_store_files(root, gateway.gateway.url, gateway.gateway.alipay_public_key_pem, port, extra)
    config.write_text(config.read_text().replace('id = "SH01"\ntill_id = "T1"', f'id = "{ref.store}"\ntill_id = "{ref.till}"'))
    return config, port


@pytest.fixture
def chain(tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> Iterator[Chain]:
    hq = tmp_path / "hq"
    common = ["--hq", str(hq), "--chain", CHAIN, "--broker", broker.mqtt_url, "--ca-file", str(broker.ca_file)]
    posagent("fleet", "provision", *common, "--relay")
    for ref in TILLS:
        posagent("fleet", "provision", *common, "--store", ref.store, "--till", ref.till)
    broker.use_accounts(hq / "passwd", hq / "acl")
    template_id = card_template(simulated_gateway)
    relay = RelayProcess(relay_config(hq, template_id))
    with contextlib.ExitStack() as stack:
        stack.callback(relay.stop)
        tills: dict[TillRef, Till] = {}
        for ref in TILLS:
            root = tmp_path / ref.name
            printer = stack.enter_context(PrinterSimulator(root / "slips", paper_mm=80))
            config, port = till_config(root, hq, ref, gateway=simulated_gateway, template_id=template_id,
                                       relay_url=relay.url, printer_port=printer.port)  # fmt: skip
            daemon = Daemon(config, port, root / "daemon.log")
            daemon.start()
            stack.callback(daemon.stop)
            tills[ref] = Till(ref, daemon, printer)
        yield Chain(relay, tills, simulated_gateway)


def linked(ecr: EcrClient) -> bool:
    fleet = ecr.request("status.get")["fleet"]
    return bool(fleet["state"] == "connected" and fleet["subscribed"])


def slip_url(till: Till, job_id: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        urls = [qr for job in till.printer.jobs() for qr in job.qr if f".{job_id}." in qr]
        if urls:
            return urls[0]
        time.sleep(0.05)
    raise AssertionError(f"no slip printed for {job_id} at {till.ref.name}")


def test_each_customer_s_card_opens_at_the_till_that_printed_the_slip_and_nowhere_else(chain: Chain) -> None:
    ecrs = {ref: till.daemon.ecr() for ref, till in chain.tills.items()}
    try:
        for ecr in ecrs.values():
            deadline = time.monotonic() + 30
            while not linked(ecr):
                assert time.monotonic() < deadline, ecr.request("status.get")["fleet"]
                time.sleep(0.1)
        jobs = {ref: f"E-{ref.store}-{ref.till}" for ref in chain.tills}
        for n, (ref, job_id) in enumerate(jobs.items()):
            ecrs[ref].request("member.enroll", {"job_id": job_id})
            # The customer scans the slip in "Alipay", fills the form, and Alipay sends the browser to the
            # chain's one callback address: the relay, which answers once the broker has the callback.
            result = open_card(slip_url(chain.tills[ref], job_id), mobile=f"1390000{n:04d}", name="李雷")
            assert result.callback_status == 200, result.callback_body
            assert "正在开通" in result.callback_body or "being opened" in result.callback_body
        for ref, ecr in ecrs.items():
            opened = ecr.wait_for("member.opened", timeout=60)["body"]
            assert opened["job_id"] == jobs[ref], (ref, opened)
        time.sleep(1)  # time enough for a misrouted callback to show up anywhere else
        for ref, ecr in ecrs.items():
            ecr.request("status.get")  # whatever arrived since is collected in ecr.events
            others = [e for e in ecr.events if e.get("event") == "member.opened"]
            assert others == [], (ref, others)
    finally:
        for ecr in ecrs.values():
            ecr.close()
    cards = chain.gateway.gateway.inspect()["cards"]
    assert len(cards) == len(TILLS)  # one card per customer, none twice
    assert chain.relay.metric("posagent_relay_callbacks_published_total") == len(TILLS)
