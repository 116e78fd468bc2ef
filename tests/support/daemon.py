"""Run `posagent run` as a real child process against the simulators, as systemd would."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from agent.ecr.client import EcrClient
from hardware_sim.printer import PrinterSimulator
from hardware_sim.scanner import SerialScannerSimulator
from offline_queue import create_key_file
from tests.support.gateway import _APP_KEY, APP_ID
from tests.support.gateway import Store as GatewayStore

TOKEN = "e2e-token-" + "x" * 22


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Daemon:
    config: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    status_port: int | None = None  # the status page, when the test asked for one
    wrapper: list[str] = field(default_factory=list)  # runs the daemon, e.g. confined as the unit confines it

    def start(self, timeout: float = 20.0) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen([*self.wrapper, sys.executable, "-m", "agent.cli.main", "run", "--config",
                                         str(self.config), "--log-level", "DEBUG"], stdout=handle,
                                        stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the daemon did not listen in time:\n{self.log.read_text()}")

    def ecr(self, **hello: object) -> EcrClient:
        return EcrClient.connect(("127.0.0.1", self.port), token=TOKEN, **hello)  # type: ignore[arg-type]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def write_store_files(root: Path, gateway_url: str, alipay_public_pem: str, port: int, extra: str = "", *,
                      status_port: int | None = None) -> Path:
    keys = root / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    private = keys / "app_private_key.pem"
    private.write_bytes(_APP_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
    os.chmod(private, 0o600)
    (keys / "alipay_public_key.pem").write_text(alipay_public_pem)
    token = keys / "ecr_token"
    token.write_text(TOKEN)
    os.chmod(token, 0o600)
    create_key_file(keys / "outbox.key")
    config = root / "agent.toml"
    config.write_text(f"""
[alipay]
app_id = "{APP_ID}"
gateway = "{gateway_url}"
app_private_key_file = "keys/app_private_key.pem"
alipay_public_key_file = "keys/alipay_public_key.pem"
read_timeout = 3.0

[store]
id = "SH01"
till_id = "T1"
name = "Test Store"

[paths]
state_dir = "state"

[ecr]
token_file = "keys/ecr_token"
tcp_port = {port}
unix_socket = "{root / 'ecr.sock'}"
heartbeat_seconds = 1.0

[outbox]
key_file = "keys/outbox.key"

[payments]
deadline_seconds = 3.0
query_interval_seconds = 0.5

[status_page]
""" + (f"port = {status_port}" if status_port else "enabled = false") + "\n" + extra)
    return config


@pytest.fixture
def daemon(tmp_path: Path, simulated_gateway: GatewayStore) -> Iterator[Daemon]:
    port = free_port()
    config = write_store_files(tmp_path, simulated_gateway.gateway.url, simulated_gateway.gateway.alipay_public_key_pem,
                               port)  # fmt: skip
    running = Daemon(config, port, tmp_path / "daemon.log")
    running.start()
    yield running
    running.stop()


@dataclass
class Store:
    """The daemon with a simulated printer and serial scanner attached."""

    daemon: Daemon
    printer: PrinterSimulator
    scanner: SerialScannerSimulator


@pytest.fixture
def store(tmp_path: Path, simulated_gateway: GatewayStore) -> Iterator[Store]:
    with PrinterSimulator(tmp_path / "slips", paper_mm=58) as printer, \
            SerialScannerSimulator(link_path=str(tmp_path / "scanner")) as scanner:  # fmt: skip
        extra = f"""
[codes]
card_prefixes = ["LOTUS"]

[printer]
uri = "tcp://127.0.0.1:{printer.port}"
paper_mm = 58

[[scanners]]
path = "{scanner.path}"
kind = "serial"
"""
        with running_store(tmp_path, simulated_gateway, printer, scanner, extra) as store:
            yield store


@contextlib.contextmanager
def running_store(tmp_path: Path, gateway: GatewayStore, printer: PrinterSimulator,
                  scanner: SerialScannerSimulator, extra: str) -> Iterator[Store]:  # fmt: skip
    """The daemon started on these devices (config `extra`), with its status page; stopped after."""
    port, status_port = free_port(), free_port()
    config = write_store_files(tmp_path, gateway.gateway.url, gateway.gateway.alipay_public_key_pem, port, extra,
                               status_port=status_port)  # fmt: skip
    running = Daemon(config, port, tmp_path / "daemon.log", status_port=status_port)
    running.start()
    try:
        yield Store(running, printer, scanner)
    finally:
        running.stop()


@dataclass
class MemberStore:
    """The daemon with a printer, membership cards configured and its own callback endpoint."""

    daemon: Daemon
    printer: PrinterSimulator
    gateway: GatewayStore
    template_id: str
    callback_port: int


def member_config(template_id: str, printer_port: int, callback_port: int, lifetime: float = 300.0) -> str:
    return f"""
[printer]
uri = "tcp://127.0.0.1:{printer_port}"
paper_mm = 80

[members]
template_id = "{template_id}"
callback_url = "http://127.0.0.1:{callback_port}/alipay/open-card"
level = "VIP1"
initial_points = "100"
auth_code_lifetime_seconds = {lifetime}

[callback]
port = {callback_port}
"""


def card_template(gateway: GatewayStore) -> str:
    """A card template (prefix LOTUS) made on the simulated gateway, as the merchant's set-up does."""
    import asyncio

    from tests.support.gateway import make_template

    async def template() -> str:
        async with gateway.client() as client:
            return await make_template(client, prefix="LOTUS")

    return asyncio.run(template())


@pytest.fixture
def member_store(tmp_path: Path, simulated_gateway: GatewayStore) -> Iterator[MemberStore]:
    template_id = card_template(simulated_gateway)
    with PrinterSimulator(tmp_path / "slips", paper_mm=80) as printer:
        port, callback_port, status_port = free_port(), free_port(), free_port()
        config = write_store_files(tmp_path, simulated_gateway.gateway.url,
                                   simulated_gateway.gateway.alipay_public_key_pem, port,
                                   member_config(template_id, printer.port, callback_port),
                                   status_port=status_port)  # fmt: skip
        running = Daemon(config, port, tmp_path / "daemon.log", status_port=status_port)
        running.start()
        try:
            yield MemberStore(running, printer, simulated_gateway, template_id, callback_port)
        finally:
            running.stop()


@contextlib.contextmanager
def member_store_with_scanner(tmp_path: Path, gateway: GatewayStore) -> Iterator[Store]:
    """The daemon with membership cards, a printer, a serial scanner and its status page."""
    template_id = card_template(gateway)
    with PrinterSimulator(tmp_path / "slips", paper_mm=80) as printer, \
            SerialScannerSimulator(link_path=str(tmp_path / "scanner")) as scanner:  # fmt: skip
        extra = member_config(template_id, printer.port, free_port()) + f"""
[codes]
card_prefixes = ["LOTUS"]

[[scanners]]
path = "{scanner.path}"
kind = "serial"
"""
        with running_store(tmp_path, gateway, printer, scanner, extra) as store:
            yield store
