"""A healthy store set-up for the doctor: config, keys, database, simulated gateway, printer and scanner.

Each test breaks one thing in it and checks that the doctor names exactly that.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.doctor import Context, Finding, run_doctor
from hardware_sim.printer import PrinterSimulator
from hardware_sim.scanner import SerialScannerSimulator
from offline_queue import Outbox
from tests.support.daemon import free_port, write_store_files
from tests.support.gateway import Store as GatewayStore


@dataclass
class Setup:
    root: Path
    config: Path
    gateway: GatewayStore
    printer: PrinterSimulator
    scanner: SerialScannerSimulator
    ecr_port: int

    @property
    def database(self) -> Path:
        return self.root / "state" / "agent.db"

    def edit_config(self, old: str, new: str) -> None:
        text = self.config.read_text()
        assert old in text
        self.config.write_text(text.replace(old, new))

    def findings(self, *only: str, clock: Callable[[], float] | None = None) -> dict[str, Finding]:
        """The findings of these checks, by name."""
        # The service user is whoever runs the tests (they own the files), so no real `posagent` user matters.
        context = Context(self.config, clock=clock or time.time, service_user=pwd.getpwuid(os.getuid()).pw_name)
        report = run_doctor(only=only, context=context)
        return {f.name: f for f in report.findings}


def store_extra(printer: PrinterSimulator, scanner_path: str) -> str:
    return f"""
[printer]
uri = "tcp://127.0.0.1:{printer.port}"
paper_mm = 58

[[scanners]]
path = "{scanner_path}"
kind = "serial"
"""


@pytest.fixture
def setup(tmp_path: Path, simulated_gateway: GatewayStore) -> Iterator[Setup]:
    with PrinterSimulator(tmp_path / "slips", paper_mm=58) as printer, \
            SerialScannerSimulator(link_path=str(tmp_path / "scanner")) as scanner:  # fmt: skip
        port = free_port()
        gateway = simulated_gateway.gateway
        config = write_store_files(tmp_path, gateway.url, gateway.alipay_public_key_pem, port,
                                   store_extra(printer, scanner.path))  # fmt: skip
        (tmp_path / "state").mkdir()
        Outbox.open(tmp_path / "state" / "agent.db", key_file=tmp_path / "keys" / "outbox.key").close()
        yield Setup(tmp_path, config, simulated_gateway, printer, scanner, port)


def statuses(findings: dict[str, Finding], names: Collection[str] | None = None) -> dict[str, str]:
    return {name: f.status.value for name, f in findings.items() if names is None or name in names}
