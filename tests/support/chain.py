"""A chain as headquarters builds it, for the end-to-end tests and the benches: `posagent fleet provision`
writes every account, a real Mosquitto (tests.support.broker) serves them, `posagent relay run` is the
chain's callback address, and each till is a real agent (`posagent run`) with the `[fleet]` section of
its provisioned bundle."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.ecr.client import EcrClient
from agent.fleet.topics import TillRef
from hardware_sim.printer import PrinterSimulator
from tests.support.broker import Broker
from tests.support.daemon import Daemon, free_port, write_store_files
from tests.support.gateway import APP_ID
from tests.support.gateway import Store as GatewayStore


def posagent(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "agent.cli.main", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"posagent {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def provision_chain(hq: Path, broker: Broker, tills: list[TillRef]) -> None:
    """The relay's and every till's accounts, with the real command; the broker serves them at once."""
    chain = tills[0].chain
    common = ["--hq", str(hq), "--chain", chain, "--broker", broker.mqtt_url, "--ca-file", str(broker.ca_file)]
    posagent("fleet", "provision", *common, "--relay")
    for ref in tills:
        posagent("fleet", "provision", *common, "--store", ref.store, "--till", ref.till)
    broker.use_accounts(hq / "passwd", hq / "acl")


def relay_config(hq: Path, template_id: str, name: str = "relay-a", extra: str = "") -> Path:
    """A relay instance's config: the provisioned relay bundle's sections plus [relay] and [metrics]."""
    snippet = (hq / "bundles" / "relay" / "relay.toml").read_text()
    snippet = snippet.replace("[chain]\n", f'[chain]\napp_id = "{APP_ID}"\ntemplate_ids = ["{template_id}"]\n')
    config = hq / name / "relay.toml"
    config.parent.mkdir()
    config.write_text(f"""[relay]
public_url = "https://cards.example.com/alipay/open-card"
host = "127.0.0.1"
port = {free_port()}

[metrics]
port = {free_port()}

{snippet}
{extra}""")
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
    store_ids = f'id = "{ref.store}"\ntill_id = "{ref.till}"'
    config.write_text(config.read_text().replace('id = "SH01"\ntill_id = "T1"', store_ids))
    return config, port


@dataclass
class ChainTill:
    ref: TillRef
    daemon: Daemon
    printer: PrinterSimulator

    def slip_url(self, job_id: str, timeout: float = 20.0) -> str:
        """The activation URL in the QR of the slip printed for `job_id`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            urls = [qr for job in self.printer.jobs() for qr in job.qr if f".{job_id}." in qr]
            if urls:
                return urls[0]
            time.sleep(0.05)
        raise AssertionError(f"no slip printed for {job_id} at {self.ref.name}")


@contextlib.contextmanager
def running_tills(root: Path, hq: Path, refs: list[TillRef], *, gateway: GatewayStore, template_id: str,
                  relay_url: str | dict[TillRef, str]) -> Iterator[dict[TillRef, ChainTill]]:  # fmt: skip
    """Each till's agent with its printer, started; all stopped at the end."""
    with contextlib.ExitStack() as stack:
        tills: dict[TillRef, ChainTill] = {}
        for ref in refs:
            folder = root / ref.name
            printer = stack.enter_context(PrinterSimulator(folder / "slips", paper_mm=80))
            url = relay_url[ref] if isinstance(relay_url, dict) else relay_url
            config, port = till_config(folder, hq, ref, gateway=gateway, template_id=template_id, relay_url=url,
                                       printer_port=printer.port)  # fmt: skip
            daemon = Daemon(config, port, folder / "daemon.log")
            daemon.start()
            stack.callback(daemon.stop)
            tills[ref] = ChainTill(ref, daemon, printer)
        yield tills


def linked(ecr: EcrClient) -> bool:
    fleet = ecr.request("status.get")["fleet"]
    return bool(fleet["state"] == "connected" and fleet["subscribed"])


def wait_linked(ecr: EcrClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not linked(ecr):
        if time.monotonic() > deadline:
            raise AssertionError(f"the till did not link up: {ecr.request('status.get')['fleet']}")
        time.sleep(0.1)
