"""`posagent fleet broker-config`: the files it writes at headquarters, that running it again keeps the CA,
that `posagent fleet provision` then puts the CA in every bundle, and that the real Mosquitto started with
the config serves a provisioned till over TLS on both listeners."""

from __future__ import annotations

import getpass
import re
import ssl
import stat
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.cli.main import main
from relay.provision.broker_conf import local_main_conf
from tests.support.broker import Broker, free_port, make_tls_files

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def broker_config(hq: Path, *args: str) -> int:
    return main(["fleet", "broker-config", "--hq", str(hq), *args])


def test_make_ca_writes_the_config_a_ca_and_the_broker_s_certificate_with_private_keys_0600(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    hq = tmp_path / "hq"
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example", "--host", "10.0.0.5") == 0
    out = capsys.readouterr().out
    assert f"CA: {hq / 'ca.pem'} (new)" in out and "for broker.acme.example, 10.0.0.5 (new" in out
    for private in (hq / "ca" / "ca.key", hq / "broker" / "broker.key", hq / "passwd"):
        assert mode(private) == 0o600, private
        assert "PRIVATE KEY" not in out
    for public in (hq / "ca.pem", hq / "broker" / "broker.pem", hq / "broker" / "posagent.conf", hq / "acl"):
        assert mode(public) == 0o644, public
    assert mode(hq) == mode(hq / "ca") == mode(hq / "broker") == 0o700
    conf = (hq / "broker" / "posagent.conf").read_text()
    for line in (f"password_file {hq / 'passwd'}", f"acl_file {hq / 'acl'}", f"certfile {hq / 'broker' / 'broker.pem'}",
                 f"keyfile {hq / 'broker' / 'broker.key'}", "listener 8883\n", "listener 443\n"):  # fmt: skip
        assert line in conf


def test_running_it_again_keeps_the_ca_and_the_certificate_while_it_fits(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example") == 0
    files = [hq / "ca.pem", hq / "ca" / "ca.key", hq / "broker" / "broker.pem", hq / "broker" / "broker.key",
             hq / "broker" / "posagent.conf"]  # fmt: skip
    first = {path: path.read_bytes() for path in files}
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example") == 0
    assert {path: path.read_bytes() for path in files} == first
    # A new name: a new broker certificate from the same CA (the tills' bundles stay valid).
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example", "--host", "mqtt.acme.example") == 0
    assert (hq / "ca.pem").read_bytes() == first[hq / "ca.pem"]
    assert (hq / "broker" / "broker.pem").read_bytes() != first[hq / "broker" / "broker.pem"]


def test_provision_puts_the_chain_s_ca_in_every_bundle(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example") == 0
    common = ["fleet", "provision", "--hq", str(hq), "--chain", "acme", "--broker", "mqtts://broker.acme.example:8883"]
    assert main([*common, "--store", "S1", "--till", "T1"]) == 0
    assert main([*common, "--relay"]) == 0
    ca = (hq / "ca.pem").read_bytes()
    assert (hq / "bundles" / "S1-T1" / "fleet-ca.pem").read_bytes() == ca
    assert tomllib.loads((hq / "bundles" / "S1-T1" / "fleet.toml").read_text())["fleet"]["ca_file"] \
        == "/etc/posagent/fleet-ca.pem"  # fmt: skip
    relay = tomllib.loads((hq / "bundles" / "relay" / "relay.toml").read_text())
    assert Path(relay["broker"]["ca_file"]).read_bytes() == ca
    # And the config's header names the chain once fleet.json says which.
    assert broker_config(hq) == 0
    assert "(chain acme)" in (hq / "broker" / "posagent.conf").read_text()


def test_broker_dir_names_the_copies_the_broker_reads_and_says_how_to_install_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    hq = tmp_path / "hq"
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example", "--broker-dir", "/etc/mosquitto/posagent") == 0
    conf = (hq / "broker" / "posagent.conf").read_text()
    assert "password_file /etc/mosquitto/posagent/passwd\n" in conf
    assert "certfile /etc/mosquitto/posagent/broker.pem\n" in conf
    out = capsys.readouterr().out
    assert f"install -m 0644 {hq / 'broker' / 'posagent.conf'} /etc/mosquitto/conf.d/ && systemctl restart" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--host", "broker.acme.example"], "--host names the broker certificate that --make-ca makes"),
    (["--make-ca"], "at least one name"),
    (["--make-ca", "--host", "broker acme"], "not a DNS name or an IP address"),
    (["--port", "0"], "--port: a TCP port"),
    (["--ws-port", "8883"], "--ws-port: must differ"),
    (["--bind", "any"], "--bind: 'any' is not an IP address"),
    (["--broker-dir", "etc/mosquitto"], "must be an absolute path"),
])  # fmt: skip
def test_mistakes_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                          message: str) -> None:  # fmt: skip
    assert broker_config(tmp_path / "hq", *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "hq" / "broker" / "posagent.conf").exists()


def test_a_folder_whose_path_mosquitto_cannot_read_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert broker_config(tmp_path / "my hq") == 2
    assert "cannot name a path with spaces" in capsys.readouterr().err


def test_a_damaged_ca_is_not_silently_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq = tmp_path / "hq"
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example") == 0
    (hq / "ca" / "ca.key").write_text("garbage\n")
    ca = (hq / "ca.pem").read_bytes()
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example") == 2
    assert "move both aside" in capsys.readouterr().err
    assert (hq / "ca.pem").read_bytes() == ca


def test_the_documented_config_is_the_command_s_output(tmp_path: Path) -> None:
    """docs/fleet.md shows the snippet of its example (run first in a new folder, --broker-dir
    /etc/mosquitto/posagent): it is what the command writes, byte for byte."""
    hq = tmp_path / "hq"
    assert broker_config(hq, "--make-ca", "--host", "broker.acme.example", "--broker-dir", "/etc/mosquitto/posagent") == 0
    blocks = re.findall(r"```\n(# Eclipse Mosquitto for the POS Agent.*?)```", (ROOT / "docs" / "fleet.md").read_text(),
                        re.DOTALL)  # fmt: skip
    assert blocks == [(hq / "broker" / "posagent.conf").read_text()]


# --- the real broker with the generated config ---------------------------------------------------------------


@pytest.fixture
def chain_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """Mosquitto started with broker-config's snippet (in a main config as Debian's, for a folder), and a till
    provisioned by `posagent fleet provision` without --ca-file."""
    hq, run = tmp_path / "hq", tmp_path / "run"
    port, ws_port = free_port(), free_port()
    assert broker_config(hq, "--make-ca", "--host", "localhost", "--host", "127.0.0.1", "--port", str(port),
                         "--ws-port", str(ws_port), "--bind", "127.0.0.1") == 0  # fmt: skip
    assert main(["fleet", "provision", "--hq", str(hq), "--chain", "acme", "--store", "S1", "--till", "T1",
                 "--broker", f"mqtts://127.0.0.1:{port}"]) == 0  # fmt: skip
    (run / "data").mkdir(parents=True)
    (run / "mosquitto.conf").write_text(local_main_conf(str(hq / "broker"), data_dir=str(run / "data"),
                                                        log_file=str(run / "mosquitto.log"), user=getpass.getuser()))
    broker = Broker(run, port, ws_port, hq / "ca.pem")
    broker.launch()
    try:
        yield broker, hq / "bundles" / "S1-T1"
    finally:
        broker.stop()


def login(port: int, *, transport: str, ca_file: Path, username: str | None, password: str | None,
          server_name: str = "localhost") -> Any:  # fmt: skip
    """Connect with paho (MQTT 5) over TLS and return the CONNACK's reason code; ssl errors propagate."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, transport=transport)  # type: ignore[arg-type]
    if transport == "websockets":
        client.ws_set_options(path="/mqtt")
    client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
    if username is not None:
        client.username_pw_set(username, password)
    answered = threading.Event()
    reasons: list[Any] = []

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        reasons.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(server_name, port)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return reasons[0]


def test_a_provisioned_till_logs_in_over_tls_on_both_listeners_with_its_bundle(
        chain_broker: tuple[Broker, Path]) -> None:  # fmt: skip
    broker, bundle = chain_broker
    password = (bundle / "fleet_password").read_text().strip()
    for transport, port in (("tcp", broker.port), ("websockets", broker.ws_port)):
        reason = login(port, transport=transport, ca_file=bundle / "fleet-ca.pem", username="S1-T1", password=password)
        assert not reason.is_failure, (transport, reason)
        refused = login(port, transport=transport, ca_file=bundle / "fleet-ca.pem", username=None, password=None)
        assert refused.is_failure, transport  # no anonymous login
        wrong = login(port, transport=transport, ca_file=bundle / "fleet-ca.pem", username="S1-T1", password="x" * 32)
        assert wrong.is_failure, transport


def test_a_client_that_does_not_trust_the_chain_s_ca_does_not_get_in(chain_broker: tuple[Broker, Path],
                                                                     tmp_path: Path) -> None:  # fmt: skip
    broker, bundle = chain_broker
    other_ca, _, _ = make_tls_files(tmp_path / "other")
    for transport, port in (("tcp", broker.port), ("websockets", broker.ws_port)):
        with pytest.raises(ssl.SSLCertVerificationError):
            login(port, transport=transport, ca_file=other_ca, username="S1-T1",
                  password=(bundle / "fleet_password").read_text().strip())  # fmt: skip
