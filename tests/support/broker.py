"""A real Eclipse Mosquitto for the tests, started by the tests on free loopback ports.

Each broker gets its own folder with a generated configuration: a CA and a server certificate for
127.0.0.1 / localhost (TLS on the MQTT listener and on the WebSocket listener), a password file
(`mosquitto_passwd`), an ACL file with one block per user, and persistence. Users and ACLs can be added
while it runs (SIGHUP reloads them), and it can be stopped gracefully, killed (-9) and restarted on the
same ports with the same persistence file, as a chain's headquarters would see it happen.

    with Broker.start(tmp_path / "broker") as broker:
        broker.add_user("relay", "secret", ["topic write posagent/c1/+/+/callback"])
        broker.mqtt_url, broker.ws_url, broker.ca_file
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import ipaddress
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a throw-away CA and a server certificate for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("posagent test CA")).issuer_name(_name("posagent test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]  # fmt: skip
    server = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))  # fmt: skip
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))  # fmt: skip
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
        ca_file, cert_file, key_file = make_tls_files(folder / "tls")
        broker = cls(folder, free_port(), free_port(), ca_file)
        (folder / "passwd").write_text("")
        os.chmod(folder / "passwd", 0o600)
        broker._write_acl()
        (folder / "data").mkdir(exist_ok=True)
        (folder / "mosquitto.conf").write_text(f"""\
user {getpass.getuser()}
per_listener_settings false
allow_anonymous false
password_file {folder / "passwd"}
acl_file {folder / "acl"}
persistence true
persistence_location {folder / "data"}/
autosave_interval {autosave_interval}
log_dest file {folder / "mosquitto.log"}
log_type error
log_type warning
log_type notice
log_type subscribe
log_type unsubscribe
connection_messages true
max_queued_messages 100000
max_inflight_messages 100

listener {broker.port} 127.0.0.1
protocol mqtt
cafile {ca_file}
certfile {cert_file}
keyfile {key_file}

listener {broker.ws_port} 127.0.0.1
protocol websockets
cafile {ca_file}
certfile {cert_file}
keyfile {key_file}
""")
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
