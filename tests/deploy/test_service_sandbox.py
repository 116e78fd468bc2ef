"""The daemon under agent.service's real sandbox: its seccomp filter (SystemCallFilter=, as systemd builds it)
and its empty capability bounding set, applied by tests/support/confined.py before `posagent run` is exec'd.

The documented `[ecr] unix_group` must work there: the socket gets the group and mode 0660. Without
chown in the filter the start is refused in one clear line, never a traceback and a crash loop.
"""

from __future__ import annotations

import grp
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.ecr.client import EcrClient
from hardware_sim.printer import PrinterSimulator
from hardware_sim.scanner import SerialScannerSimulator
from tests.support.confined import unit_filter
from tests.support.daemon import TOKEN, Daemon, free_port, write_store_files
from tests.support.gateway import Store as GatewayStore

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "agent.service"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping capabilities needs them first (CI is root)")


def confined(unit: Path, groups: list[int]) -> list[str]:
    return [sys.executable, "-m", "tests.support.confined", "--unit", str(unit),
            "--groups", ",".join(map(str, groups)), "--"]  # fmt: skip


@pytest.fixture
def ecr_group() -> grp.struct_group:
    """A group of this host that stands for the ECR software's group (nothing is created)."""
    for name in ("users", "dialout", "lp", "audio"):
        try:
            return grp.getgrnam(name)
        except KeyError:
            continue
    raise AssertionError("no usable group on this host")


@pytest.fixture
def store_config(tmp_path: Path, simulated_gateway: GatewayStore, ecr_group: grp.struct_group) -> Iterator[Path]:
    """A till with a printer, a serial scanner, the status page and the ECR socket given to `ecr_group`."""
    with PrinterSimulator(tmp_path / "slips", paper_mm=58) as printer, \
            SerialScannerSimulator(link_path=str(tmp_path / "scanner")) as scanner:  # fmt: skip
        extra = f"""
[printer]
uri = "tcp://127.0.0.1:{printer.port}"
paper_mm = 58

[[scanners]]
path = "{scanner.path}"
kind = "serial"
"""
        gateway = simulated_gateway.gateway
        config = write_store_files(tmp_path, gateway.url, gateway.alipay_public_key_pem, free_port(), extra,
                                   status_port=free_port())  # fmt: skip
        text = config.read_text().replace("heartbeat_seconds = 1.0", f'heartbeat_seconds = 1.0\nunix_group = "{ecr_group.gr_name}"')
        config.write_text(text)
        yield config


def port_of(config: Path) -> int:
    line = next(line for line in config.read_text().splitlines() if line.startswith("tcp_port"))
    return int(line.split("=")[1])


def test_the_filter_is_read_as_systemd_reads_the_unit() -> None:
    found = unit_filter(UNIT.read_text())
    assert found.allow_list and found.errno == 1  # @system-service allowed, the rest answers EPERM
    assert {"chown", "fchown", "fchownat"} <= found.syscalls  # @chown is back for [ecr] unix_group
    assert not {"reboot", "setuid", "sched_setaffinity", "setrlimit"} & found.syscalls  # still out
    assert {"openat", "bind", "execve"} <= found.syscalls


def test_the_daemon_gives_the_socket_to_its_group_under_the_units_sandbox(
    tmp_path: Path, store_config: Path, ecr_group: grp.struct_group
) -> None:
    daemon = Daemon(store_config, port_of(store_config), tmp_path / "daemon.log",
                    wrapper=confined(UNIT, [ecr_group.gr_gid]))  # fmt: skip
    daemon.start()
    try:
        sock = tmp_path / "ecr.sock"
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = sock.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert info.st_gid == ecr_group.gr_gid
        assert stat.S_IMODE(info.st_mode) == 0o660
        with EcrClient.connect(sock, token=TOKEN) as ecr:  # the till's way in works under the filter
            assert "devices" in ecr.request("status.get")
    finally:
        code = daemon.stop()
    log = daemon.log.read_text()
    assert code == 0, log
    assert "Traceback" not in log


def test_without_chown_in_the_filter_the_start_is_refused_in_one_line(
    tmp_path: Path, store_config: Path, ecr_group: grp.struct_group
) -> None:
    # agent.service as it was: @chown taken out with @privileged and not put back.
    old_unit = tmp_path / "old.service"
    old_unit.write_text("\n".join(line for line in UNIT.read_text().splitlines() if line != "SystemCallFilter=@chown"))
    assert "chown" not in unit_filter(old_unit.read_text()).syscalls
    result = subprocess.run([*confined(old_unit, [ecr_group.gr_gid]), sys.executable, "-m", "agent.cli.main", "run",
                             "--config", str(store_config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"ecr.unix_group: cannot give {tmp_path / 'ecr.sock'} to group {ecr_group.gr_name!r}" in errors[0]
    assert not (tmp_path / "ecr.sock").exists()  # its half-made socket is not left behind
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port_of(store_config)), timeout=1).close()


def test_a_service_user_outside_the_group_is_refused_before_start(
    tmp_path: Path, store_config: Path, ecr_group: grp.struct_group
) -> None:
    result = subprocess.run([*confined(UNIT, []), sys.executable, "-m", "agent.cli.main", "run", "--config",
                             str(store_config)], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"is not a member of group {ecr_group.gr_name!r}" in result.stderr
    assert f"usermod -aG {ecr_group.gr_name}" in result.stderr
