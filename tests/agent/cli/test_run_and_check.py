"""`posagent config check` refuses exactly what `posagent run` refuses at start, in the same words.

Each case breaks one thing in a working set-up. `run` (a real process) must exit 2 with one `error:`
line per problem and no traceback; `check` must print the very same lines and exit 2 too.
"""

from __future__ import annotations

import grp
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.cli.main import main
from offline_queue import create_key_file
from tests.support.broker import make_tls_files
from tests.support.daemon import Daemon, free_port, write_store_files
from tests.support.gateway import Store as GatewayStore

ROOT = Path(__file__).resolve().parents[3]
NO_CAPABILITIES = [sys.executable, "-m", "tests.support.confined", "--"]  # root as the unit makes it: no capability


@dataclass
class Site:
    root: Path
    config: Path

    def edit(self, old: str, new: str) -> None:
        text = self.config.read_text()
        assert old in text, old
        self.config.write_text(text.replace(old, new, 1))

    def add(self, text: str) -> None:
        self.config.write_text(self.config.read_text() + "\n" + text + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", pem, free_port())
    return Site(tmp_path, config)


def run_lines(site: Site, wrapper: list[str] | None = None) -> tuple[int, list[str], str]:
    result = subprocess.run([*(wrapper or []), sys.executable, "-m", "agent.cli.main", "run", "--config",
                             str(site.config)], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    return result.returncode, [ln for ln in result.stderr.splitlines() if ln.startswith("error:")], result.stderr


def check_lines(site: Site, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["config", "check", "--config", str(site.config)])
    err = capsys.readouterr().err
    return code, [ln for ln in err.splitlines() if ln.startswith("error:")]


def check_lines_confined(site: Site) -> tuple[int, list[str]]:
    result = subprocess.run([*NO_CAPABILITIES, sys.executable, "-m", "agent.cli.main", "config", "check", "--config",
                             str(site.config)], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    return result.returncode, [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]


def assert_same_refusal(site: Site, capsys: pytest.CaptureFixture[str], key: str, words: str) -> None:
    run_code, run_errors, stderr = run_lines(site)
    check_code, check_errors = check_lines(site, capsys)
    assert "Traceback" not in stderr, stderr
    assert (run_code, check_code) == (2, 2), stderr
    assert run_errors == check_errors, (run_errors, check_errors)
    assert any(f": {key}: " in line and words in line for line in run_errors), run_errors


@pytest.fixture
def foreign_port() -> Iterator[int]:
    """Another program on a port: accepts and hangs up at once."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()




Breakage = Callable[[Site], tuple[str, str]]  # breaks one thing; returns (setting, words of the refusal)


def token_missing(site: Site) -> tuple[str, str]:
    (site.root / "keys/ecr_token").unlink()
    return "ecr.token_file", "not found"


def token_empty(site: Site) -> tuple[str, str]:
    (site.root / "keys/ecr_token").write_text("\n")
    return "ecr.token_file", "is empty"


def token_world_readable(site: Site) -> tuple[str, str]:
    os.chmod(site.root / "keys/ecr_token", 0o644)
    return "ecr.token_file", "chmod 600"


def token_not_text(site: Site) -> tuple[str, str]:
    (site.root / "keys/ecr_token").write_bytes(b"\xff\xfe\x00garbage")
    return "ecr.token_file", "not text"


def token_is_a_directory(site: Site) -> tuple[str, str]:
    (site.root / "keys/ecr_token").unlink()
    (site.root / "keys/ecr_token").mkdir(mode=0o700)
    return "ecr.token_file", "cannot be read"


def private_key_world_readable(site: Site) -> tuple[str, str]:
    os.chmod(site.root / "keys/app_private_key.pem", 0o644)
    return "alipay.app_private_key_file", "chmod 600"


def private_key_is_a_directory(site: Site) -> tuple[str, str]:
    (site.root / "keys/app_private_key.pem").unlink()
    (site.root / "keys/app_private_key.pem").mkdir(mode=0o700)
    return "alipay.app_private_key_file", "cannot be read"


def alipay_public_key_garbage(site: Site) -> tuple[str, str]:
    (site.root / "keys/alipay_public_key.pem").write_text("not a key")
    return "alipay.alipay_public_key_file", "alipay_public_key.pem"


def auth_token_world_readable(site: Site) -> tuple[str, str]:
    token = site.root / "keys/app_auth_token"
    token.write_text("202401BBxxxxxxxxxxxxxxxxxxxxxxxxx")
    os.chmod(token, 0o644)
    site.edit("read_timeout = 3.0", 'read_timeout = 3.0\napp_auth_token_file = "keys/app_auth_token"')
    return "alipay.app_auth_token_file", "chmod 600"


def outbox_key_missing(site: Site) -> tuple[str, str]:
    (site.root / "keys/outbox.key").unlink()
    return "outbox.key_file", "missing"


def outbox_key_short(site: Site) -> tuple[str, str]:
    (site.root / "keys/outbox.key").write_text("c2hvcnQ=\n")
    return "outbox.key_file", "expected 32"


def outbox_key_world_readable(site: Site) -> tuple[str, str]:
    os.chmod(site.root / "keys/outbox.key", 0o644)
    return "outbox.key_file", "chmod 600"


def concurrency_zero(site: Site) -> tuple[str, str]:
    site.edit('key_file = "keys/outbox.key"', 'key_file = "keys/outbox.key"\nconcurrency = 0')
    return "outbox.concurrency", "from 1 to 64"


def max_pending_negative(site: Site) -> tuple[str, str]:
    site.edit('key_file = "keys/outbox.key"', 'key_file = "keys/outbox.key"\nmax_pending = -1')
    return "outbox.max_pending", "from 1 to"


def timeout_not_a_number(site: Site) -> tuple[str, str]:
    site.edit("read_timeout = 3.0", "read_timeout = nan")
    return "alipay.read_timeout", "finite"


def printer_address_without_host(site: Site) -> tuple[str, str]:
    site.add('[printer]\nuri = "tcp://"')
    return "printer.uri", "missing host"


def state_dir_is_a_file(site: Site) -> tuple[str, str]:
    (site.root / "state").write_text("oops")
    return "paths.state_dir", "is a file, not a directory"


def unknown_unix_group(site: Site) -> tuple[str, str]:
    site.edit("heartbeat_seconds = 1.0", 'heartbeat_seconds = 1.0\nunix_group = "no-such-group-x"')
    return "ecr.unix_group", "'no-such-group-x' does not exist"


def unix_socket_is_a_file(site: Site) -> tuple[str, str]:
    (site.root / "ecr.sock").write_text("not a socket")
    return "ecr.unix_socket", "is not a socket"


def with_fleet(site: Site, broker: str = "mqtts://127.0.0.1:1") -> None:
    """A working [fleet] set-up (the broker need not answer: the link is outbound and never stops a start)."""
    keys = site.root / "keys"
    create_key_file(keys / "fleet.key")
    (keys / "fleet_password").write_text("till-password\n")
    os.chmod(keys / "fleet_password", 0o600)
    ca_file, _, _ = make_tls_files(site.root / "tls")
    site.add(f'[fleet]\nchain = "acme"\nbroker = "{broker}"\nkey_file = "keys/fleet.key"\n'
             f'password_file = "keys/fleet_password"\nca_file = "{ca_file}"')


def fleet_key_missing(site: Site) -> tuple[str, str]:
    with_fleet(site)
    (site.root / "keys/fleet.key").unlink()
    return "fleet.key_file", "not found"


def fleet_key_world_readable(site: Site) -> tuple[str, str]:
    with_fleet(site)
    os.chmod(site.root / "keys/fleet.key", 0o644)
    return "fleet.key_file", "chmod 600"


def fleet_key_is_the_outbox_key(site: Site) -> tuple[str, str]:
    with_fleet(site)
    site.edit('key_file = "keys/fleet.key"', 'key_file = "keys/outbox.key"')
    return "fleet.key_file", "must not be the outbox key"


def fleet_password_missing(site: Site) -> tuple[str, str]:
    with_fleet(site)
    (site.root / "keys/fleet_password").unlink()
    return "fleet.password_file", "not found"


def fleet_password_world_readable(site: Site) -> tuple[str, str]:
    with_fleet(site)
    os.chmod(site.root / "keys/fleet_password", 0o644)
    return "fleet.password_file", "chmod 600"


def fleet_password_empty(site: Site) -> tuple[str, str]:
    with_fleet(site)
    (site.root / "keys/fleet_password").write_text("\n")
    return "fleet.password_file", "is empty"


def fleet_ca_not_a_certificate(site: Site) -> tuple[str, str]:
    with_fleet(site)
    (site.root / "tls/ca.pem").write_text("not a certificate\n")
    return "fleet.ca_file", "no CA certificate"


def fleet_ca_missing(site: Site) -> tuple[str, str]:
    with_fleet(site)
    (site.root / "tls/ca.pem").unlink()
    return "fleet.ca_file", "not found"


def fleet_broker_unencrypted_beyond_this_pc(site: Site) -> tuple[str, str]:
    with_fleet(site, "mqtt://broker.example.com:1883")
    return "fleet.broker", "not encrypted"


def fleet_broker_not_mqtt(site: Site) -> tuple[str, str]:
    with_fleet(site, "https://broker.example.com/")
    return "fleet.broker", "mqtts://HOST:8883"


def fleet_broker_password_in_the_url(site: Site) -> tuple[str, str]:
    with_fleet(site, "mqtts://till:secret@broker.example.com")
    return "fleet.broker", "no user or password in the URL"


CASES: list[Breakage] = [
    token_missing, token_empty, token_world_readable, token_not_text, token_is_a_directory,
    private_key_world_readable, private_key_is_a_directory, alipay_public_key_garbage, auth_token_world_readable,
    outbox_key_missing, outbox_key_short, outbox_key_world_readable, concurrency_zero, max_pending_negative,
    timeout_not_a_number, printer_address_without_host, state_dir_is_a_file, unknown_unix_group,
    unix_socket_is_a_file, fleet_key_missing, fleet_key_world_readable, fleet_key_is_the_outbox_key,
    fleet_password_missing, fleet_password_world_readable, fleet_password_empty, fleet_ca_not_a_certificate,
    fleet_ca_missing, fleet_broker_unencrypted_beyond_this_pc, fleet_broker_not_mqtt, fleet_broker_password_in_the_url,
]  # fmt: skip


@pytest.mark.parametrize("breakage", CASES, ids=[c.__name__ for c in CASES])
def test_check_refuses_what_run_refuses_in_the_same_words(
    site: Site, capsys: pytest.CaptureFixture[str], breakage: Breakage
) -> None:
    key, words = breakage(site)
    assert_same_refusal(site, capsys, key, words)


def test_a_corrupt_database_is_named_by_check_and_moved_aside_by_run(site: Site,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    state = site.root / "state"
    state.mkdir()
    (state / "agent.db").write_bytes(b"this is not a database" * 100)
    assert main(["config", "check", "--config", str(site.config)]) == 2
    err = capsys.readouterr().err
    assert f"paths.state_dir: {state / 'agent.db'} is corrupt" in err and "posagent queue recover" in err
    assert [p.name for p in state.iterdir()] == ["agent.db"]  # check moves nothing
    code, _errors, stderr = run_lines(site)
    assert code == 3 and "Traceback" not in stderr and "moved aside to" in stderr


def test_a_database_newer_than_this_agent_is_refused_in_one_line(site: Site,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    state = site.root / "state"
    state.mkdir()
    with sqlite3.connect(state / "agent.db") as db:
        db.execute("CREATE TABLE outbox_meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO outbox_meta VALUES ('schema_version', '99')")
    db.close()
    assert main(["config", "check", "--config", str(site.config)]) == 2
    assert "outbox schema version 99 is newer than this agent understands" in capsys.readouterr().err
    code, _errors, stderr = run_lines(site)
    assert code == 3 and "Traceback" not in stderr
    assert "outbox schema version 99 is newer than this agent understands" in stderr


def test_a_working_set_up_passes_the_check(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(site.config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.parametrize("broker", ["mqtts://broker.example.com", "wss://broker.example.com/mqtt",
                                    "mqtt://127.0.0.1:1883", "ws://[::1]:8080/mqtt"])  # fmt: skip
def test_a_working_fleet_set_up_passes_the_check(site: Site, capsys: pytest.CaptureFixture[str], broker: str) -> None:
    with_fleet(site, broker)
    assert main(["config", "check", "--config", str(site.config), "--json"]) == 0, capsys.readouterr()
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_ecr_port_taken_by_another_program(site: Site, capsys: pytest.CaptureFixture[str], foreign_port: int) -> None:
    site.edit("tcp_port = ", f"tcp_port = {foreign_port}\n# was: ")
    assert_same_refusal(site, capsys, "ecr.tcp_port", f"127.0.0.1:{foreign_port} is in use by another program")


def test_callback_port_taken_by_another_program(site: Site, capsys: pytest.CaptureFixture[str],
                                                foreign_port: int) -> None:  # fmt: skip
    site.add(f'[members]\ntemplate_id = "20240101000000000001"\n\n[callback]\nport = {foreign_port}')
    assert_same_refusal(site, capsys, "callback.port", f"127.0.0.1:{foreign_port} is in use by another program")


def test_state_dir_on_a_read_only_file_system(site: Site, capsys: pytest.CaptureFixture[str],
                                              mounted_tmpfs: Callable[[str], Path]) -> None:  # fmt: skip
    read_only = mounted_tmpfs("ro,size=1m")
    site.edit('state_dir = "state"', f'state_dir = "{read_only}"')
    assert_same_refusal(site, capsys, "paths.state_dir", "read-only file system")


def test_a_full_disk_is_named_with_its_mount(site: Site, capsys: pytest.CaptureFixture[str],
                                             mounted_tmpfs: Callable[[str], Path]) -> None:  # fmt: skip
    disk = mounted_tmpfs("size=2m")
    with (disk / "filler").open("wb", buffering=0) as filler, pytest.raises(OSError):
        while True:
            filler.write(b"\0" * 65536)
    site.edit('state_dir = "state"', f'state_dir = "{disk / "state"}"')
    assert_same_refusal(site, capsys, "paths.state_dir", f"disk full: free space on {disk}")


# ---- as the service runs: no capabilities, so file modes and group membership apply --------------


def assert_same_refusal_without_capabilities(site: Site, key: str, words: str) -> None:
    run_code, run_errors, stderr = run_lines(site, NO_CAPABILITIES)
    check_code, check_errors = check_lines_confined(site)
    assert "Traceback" not in stderr, stderr
    assert (run_code, check_code) == (2, 2), stderr
    assert run_errors == check_errors, (run_errors, check_errors)
    assert any(f": {key}: " in line and words in line for line in run_errors), run_errors


def test_state_dir_not_writable_by_the_service(site: Site) -> None:
    state = site.root / "state"
    state.mkdir(mode=0o755)
    os.chown(state, 65534, 65534)  # someone else's folder
    assert_same_refusal_without_capabilities(site, "paths.state_dir", f"{state} is not writable by root")


def test_database_file_not_writable_by_the_service(site: Site) -> None:
    state = site.root / "state"
    state.mkdir(mode=0o750)
    (state / "agent.db").write_bytes(b"")
    os.chown(state / "agent.db", 65534, 65534)
    os.chmod(state / "agent.db", 0o644)
    assert_same_refusal_without_capabilities(site, "paths.state_dir", f"{state / 'agent.db'} is not writable by root")


def test_service_user_outside_the_socket_group(site: Site) -> None:
    group = next(g for g in grp.getgrall() if g.gr_gid != 0)
    site.edit("heartbeat_seconds = 1.0", f'heartbeat_seconds = 1.0\nunix_group = "{group.gr_name}"')
    assert_same_refusal_without_capabilities(site, "ecr.unix_group", f"root is not a member of group {group.gr_name!r}")


# ---- a running agent ---------------------------------------------------------------------------


def test_ports_of_the_running_agent_pass_the_check_but_refuse_a_second_agent(
    tmp_path: Path, simulated_gateway: GatewayStore, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = simulated_gateway.gateway
    port = free_port()
    site = Site(tmp_path, write_store_files(tmp_path, gateway.url, gateway.alipay_public_key_pem, port))
    running = Daemon(site.config, port, tmp_path / "daemon.log")
    running.start()
    try:
        assert main(["config", "check", "--config", str(site.config)]) == 0  # it frees them when restarted
        capsys.readouterr()
        code, errors, stderr = run_lines(site)
        assert code == 2 and "Traceback" not in stderr
        assert [line.split(": ")[2] for line in errors] == ["ecr.tcp_port", "ecr.unix_socket"]
        assert all("already served by a running agent" in line for line in errors)
        with running.ecr() as ecr:  # the first agent is untouched, its socket too
            ecr.request("status.get")
        assert (tmp_path / "ecr.sock").is_socket()
    finally:
        assert running.stop() == 0
