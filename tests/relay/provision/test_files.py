"""`posagent fleet provision`: what it writes at headquarters and in each bundle, that running it again
changes nothing, and that the broker takes the files as they are."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.fleet.topics import TillRef
from offline_queue import load_key_file
from relay.config import load_viewer_config
from relay.provision.accounts import Account, ProvisionError
from relay.provision.files import provision
from tests.support.broker import Broker

from ..conftest import connect, mqtt_client, publish

pytestmark = pytest.mark.timeout(60)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_till_gets_its_key_password_and_config_snippet_all_private(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    code = main(["fleet", "provision", "--hq", str(hq), "--chain", "acme", "--store", "S1", "--till", "T1",
                 "--broker", "mqtts://broker.example.com:8883", "--ca-file", str(ca),
                 "--callback-url", "https://cards.example.com/alipay/open-card"])  # fmt: skip
    assert code == 0
    bundle = hq / "bundles" / "S1-T1"
    assert sorted(p.name for p in bundle.iterdir()) == ["fleet-ca.pem", "fleet.key", "fleet.toml", "fleet_password"]
    for path in [*bundle.iterdir(), hq / "keys" / "S1-T1.key", hq / "passwd", hq / "fleet.json"]:
        assert mode(path) == 0o600, path
    assert mode(hq / "acl") == 0o644  # no secret; the broker's user reads it
    # Headquarters' copy of the key is the till's key.
    assert (bundle / "fleet.key").read_bytes() == (hq / "keys" / "S1-T1.key").read_bytes()
    load_key_file(bundle / "fleet.key")
    snippet = tomllib.loads((bundle / "fleet.toml").read_text())
    assert snippet == {"fleet": {"chain": "acme", "broker": "mqtts://broker.example.com:8883", "username": "S1-T1",
                                 "password_file": "/etc/posagent/fleet_password", "key_file": "/etc/posagent/fleet.key",
                                 "ca_file": "/etc/posagent/fleet-ca.pem"}}  # fmt: skip
    assert "https://cards.example.com/alipay/open-card" in (bundle / "fleet.toml").read_text()
    password = (bundle / "fleet_password").read_text().strip()
    assert len(password) >= 32 and password not in (hq / "passwd").read_text()  # hashed there
    assert (hq / "acl").read_text().split("\n\n", 1)[1] == (
        "user S1-T1\ntopic read posagent/acme/S1/T1/callback\ntopic readwrite posagent/acme/S1/T1/status\n")


def test_running_it_again_changes_nothing_and_the_acl_follows_what_is_provisioned(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    provision(hq, "acme", Account.for_till(TillRef("acme", "S1", "T1")), broker="mqtts://b.example:8883",
              callback_url="https://cards.example.com/cb")  # fmt: skip
    first = {p: p.read_bytes() for p in (hq / "keys" / "S1-T1.key", hq / "bundles" / "S1-T1" / "fleet_password",
                                         hq / "bundles" / "S1-T1" / "fleet.toml", hq / "acl")}  # fmt: skip
    again = provision(hq, "acme", Account.for_till(TillRef("acme", "S1", "T1")))  # the URLs are remembered
    assert not again.new_key and not again.new_password
    assert {p: p.read_bytes() for p in first} == first
    provision(hq, "acme", Account.service("relay", "relay"))
    provision(hq, "acme", Account.service("dash", "viewer"))
    provision(hq, "acme", Account.for_till(TillRef("acme", "S2", "T1")))
    acl = (hq / "acl").read_text()
    assert acl.count("user ") == 4
    assert "user relay\ntopic write posagent/acme/+/+/callback\ntopic read posagent/acme/+/+/status\n" in acl
    assert "user dash\ntopic read posagent/acme/+/+/status\n" in acl
    assert "user S2-T1\ntopic read posagent/acme/S2/T1/callback\n" in acl
    registry = json.loads((hq / "fleet.json").read_text())
    assert registry["broker"] == "mqtts://b.example:8883"
    assert sorted(a["name"] for a in registry["accounts"]) == ["S1-T1", "S2-T1", "dash", "relay"]
    assert "password" not in (hq / "fleet.json").read_text()
    # The viewer's bundle is a config `fleet status` reads as it is.
    viewer = load_viewer_config(hq / "bundles" / "dash" / "viewer.toml")
    assert (viewer.chain.id, viewer.broker.username) == ("acme", "dash")


@pytest.mark.parametrize(("args", "message"), [
    (["--chain", "other", "--store", "S1", "--till", "T1"], "holds chain acme, not other"),
    (["--chain", "acme", "--store", "S1-x", "--till", "T1"], "store id: 1-16 letters or digits"),
    (["--chain", "acme", "--store", "S1"], "needs both --store and --till"),
    (["--chain", "acme", "--viewer", "S1-T1"], "no '-'"),
    (["--chain", "acme", "--store", "S1", "--till", "T2", "--broker", "mqtt://broker.example.com"], "is not encrypted"),
    (["--chain", "ac/me", "--relay"], "--chain: 1-16 letters or digits"),
    (["--chain", "acme", "--store", "S1", "--till", "T1", "--callback-url", "cards.example.com"], "--callback-url: the"),
])  # fmt: skip
def test_mistakes_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                          message: str) -> None:  # fmt: skip
    provision(tmp_path / "hq", "acme", Account.for_till(TillRef("acme", "S1", "T1")))
    assert main(["fleet", "provision", "--hq", str(tmp_path / "hq"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_damaged_key_is_not_silently_replaced(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    till = Account.for_till(TillRef("acme", "S1", "T1"))
    provision(hq, "acme", till)
    (hq / "keys" / "S1-T1.key").write_text("garbage\n")
    with pytest.raises(ProvisionError, match="move it aside"):
        provision(hq, "acme", till)


def test_the_broker_serves_the_accounts_as_provisioned(tmp_path: Path, broker: Broker) -> None:
    hq = tmp_path / "hq"
    done = provision(hq, "acme", Account.for_till(TillRef("acme", "S1", "T1")), broker=broker.mqtt_url,
                     ca_file=broker.ca_file)  # fmt: skip
    broker.use_accounts(hq / "passwd", hq / "acl")
    password = (done.bundle / "fleet_password").read_text().strip()
    till = mqtt_client(broker, "S1-T1", password)
    assert not connect(till, broker).is_failure
    assert publish(till, "posagent/acme/S1/T1/status", b"{}") in (0, 16)  # accepted (16: nobody subscribes)
    assert publish(till, "posagent/acme/S1/T2/status", b"{}") == 135
    till.disconnect()
    # Re-provisioning (idempotent) keeps the password the till already has working.
    provision(hq, "acme", Account.for_till(TillRef("acme", "S1", "T1")))
    broker.use_accounts(hq / "passwd", hq / "acl")
    assert not connect(mqtt_client(broker, "S1-T1", password), broker).is_failure
