"""A real Eclipse Mosquitto for the tests, started by the tests on free loopback ports.

Each broker gets its own folder, set up with headquarters' own code: `posagent fleet broker-config
--make-ca` (relay.provision.broker_files) writes the chain's broker config, a CA and the broker's
certificate for 127.0.0.1 / localhost / ::1, and the password and ACL files where `posagent fleet
provision` keeps them. The tests add only what a broker run by hand from a folder needs (the main
config around that snippet: this user, the database and the log in the folder) and a fuller log.
Users and ACLs can be added while it runs (SIGHUP reloads them), and it can be stopped gracefully,
killed (-9) and restarted on the same ports with the same persistence file, as a chain's headquarters
would see it happen.

    with Broker.start(tmp_path / "broker") as broker:
        broker.add_user("relay", "secret", ["topic write posagent/c1/+/+/callback"])
        broker.mqtt_url, broker.ws_url, broker.ca_file
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from relay.provision.broker_conf import local_main_conf
from relay.provision.broker_files import write_broker_config
from relay.provision.pki import broker_certificate, make_ca, parse_hosts, pem_certificate, pem_private_key

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]
# Beyond what headquarters logs: the tests read subscriptions in the log when something fails.
TEST_LOGGING = ["log_type error", "log_type warning", "log_type notice", "log_type subscribe", "log_type unsubscribe",
                "connection_messages true"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): another CA (as broker-config --make-ca makes one) and a server
    certificate for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca = make_ca("test", now)
    server = broker_certificate(ca, parse_hosts(LOOPBACK_NAMES), now)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(pem_certificate(ca.certificate))
    cert_file.write_bytes(pem_certificate(server.certificate))
    key_file.write_bytes(pem_private_key(server.key))
    os.chmod(key_file, 0o600)
    return ca_file, cert_file, key_file


@dataclass
class Broker:
    folder: Path
    port: int
    ws_port: int
    ca_file: Path
    process: subprocess.Popen[bytes] | None = None
    acl: dict[str, list[str]] = field(default_factory=dict)

    # --- life -----------------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def start(cls, folder: Path, *, autosave_interval: int = 1) -> Iterator[Broker]:
        """A running broker in `folder` (made here); stopped (gracefully) at the end."""
        if not Path(MOSQUITTO).exists():
            pytest.fail("the fleet tests need Eclipse Mosquitto: ./run test installs it (apt-get install mosquitto)")
        folder.mkdir(parents=True, exist_ok=True)
        port, ws_port = free_port(), free_port()
        written = write_broker_config(folder, hosts=LOOPBACK_NAMES, port=port, ws_port=ws_port, bind="127.0.0.1",
                                      make_ca_files=True, autosave_interval=autosave_interval)  # fmt: skip
        assert written.ca_file is not None
        broker = cls(folder, port, ws_port, written.ca_file)
        broker._write_acl()
        (folder / "data").mkdir(exist_ok=True)
        (folder / "mosquitto.conf").write_text(local_main_conf(
            str(written.conf_file.parent), data_dir=str(folder / "data"), log_file=str(folder / "mosquitto.log"),
            user=getpass.getuser(), extra=TEST_LOGGING))  # fmt: skip
        broker.launch()
        try:
            yield broker
        finally:
            broker.stop()

    def launch(self) -> None:
        log = (self.folder / "stderr.log").open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")], stdout=log,
                                        stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}:\n{self.log_text()}")
            if all(self._listening(port) for port in (self.port, self.ws_port)):
                return
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen in time:\n{self.log_text()}")

    @staticmethod
    def _listening(port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        return False

    def stop(self) -> None:
        """Graceful: SIGTERM, so mosquitto writes its persistence file before it exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9: whatever was not yet saved to the persistence file is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, *, graceful: bool = True) -> None:
        self.stop() if graceful else self.kill()
        self.launch()

    def log_text(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.folder / "mosquitto.log", self.folder / "stderr.log")
                 if p.exists()]  # fmt: skip
        return "\n".join(parts)

    # --- accounts -------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, acl: list[str]) -> None:
        """A user and its ACL lines (e.g. `topic read posagent/c1/S1/T1/callback`); applied at once."""
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(self.folder / "passwd"), username, password], check=True,
                       capture_output=True)  # fmt: skip
        self.acl[username] = list(acl)
        self._write_acl()
        self.reload()

    def use_accounts(self, passwd: Path, acl: Path) -> None:
        """Serve the accounts of a password file and an ACL file written elsewhere (by `posagent fleet provision`),
        instead of those of `add_user`; applied at once."""
        shutil.copyfile(passwd, self.folder / "passwd")
        shutil.copyfile(acl, self.folder / "acl")
        os.chmod(self.folder / "passwd", 0o600)
        self.acl = {}
        self.reload()

    def _write_acl(self) -> None:
        blocks = [f"user {user}\n" + "".join(f"{line}\n" for line in lines) for user, lines in self.acl.items()]
        (self.folder / "acl").write_text("\n".join(blocks))

    def reload(self) -> None:
        """SIGHUP: mosquitto reads the password and ACL files again."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)
            time.sleep(0.1)  # the reload happens on the broker's next loop turn

    # --- addresses ------------------------------------------------------------------------------

    @property
    def mqtt_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.ws_port}/mqtt"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker.start(tmp_path / "broker") as running:
        yield running
