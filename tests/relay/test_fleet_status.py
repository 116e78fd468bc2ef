"""Headquarters' view of the chain from the tills' retained statuses, on a real broker: `posagent fleet status`
lists every till sick first with what is wrong, and the relay's /metrics carries the same figures.

Five tills: S1-T1 healthy; S1-T2 gone without a goodbye (its last will says offline); S2-T1 online with
dead jobs and its printer out of paper; S2-T2 provisioned but never connected; S3-T1 healthy."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.cli.main import main
from agent.fleet.messages import DeviceState, TillStatus, encode_status
from tests.support.broker import Broker
from tests.support.waiting import wait_until

from .conftest import Chain, connect, mqtt_client, publish, relay_config, running_relay, wait_for

pytestmark = pytest.mark.timeout(120)

PRINTER_OK = DeviceState("printer", "printer", "ready")


def publish_status(chain: Chain, broker: Broker, status: TillStatus, *, vanish: bool = False) -> None:
    """As the till's agent: its retained status; `vanish`: with a last will, then the connection just drops."""
    account = chain.till(status.till.store, status.till.till)
    client = mqtt_client(broker, account.ref.name, account.password)
    if vanish:
        will = TillStatus(status.till, online=False, at=status.at, version=status.version, reason="connection lost")
        client.will_set(account.ref.status_topic, encode_status(will), qos=1, retain=True)
    connect(client, broker)
    assert publish(client, account.ref.status_topic, encode_status(status), retain=True) in (0, 16)
    if vanish:
        sock = client.socket()
        client.loop_stop()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker sends the will
    else:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def fleet(chain: Chain, broker: Broker) -> Iterator[Chain]:
    till = lambda store, till: chain.till(store, till).ref  # noqa: E731
    publish_status(chain, broker, TillStatus(till("S1", "T1"), True, 1.0, "0.1.0", devices=(PRINTER_OK,)))
    publish_status(chain, broker, TillStatus(till("S1", "T2"), True, 1.0, "0.1.0"), vanish=True)
    publish_status(chain, broker, TillStatus(till("S2", "T1"), True, 1.0, "0.1.0", outbox_pending=4, outbox_dead=2,
                                             devices=(DeviceState("printer", "printer", "paper_out"),)))  # fmt: skip
    chain.till("S2", "T2")
    publish_status(chain, broker, TillStatus(till("S3", "T1"), True, 1.0, "0.1.0"))
    yield chain


def test_fleet_status_lists_every_till_sick_first_with_what_is_wrong(fleet: Chain, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    config = fleet.relay_config(tmp_path / "relay")

    def listed() -> list[tuple[str, str, list[str]]]:
        assert main(["fleet", "status", "--config", str(config), "--json"]) == 0
        body = json.loads(capsys.readouterr().out)
        return [(t["store"], t["till"], t["problems"]) for t in body["tills"]]

    wait_for(lambda: listed()[0][2] == ["offline (connection lost)"])  # the will has been sent
    assert listed() == [
        ("S1", "T2", ["offline (connection lost)"]),
        ("S2", "T2", ["never seen: no status from this till (not installed, or never connected)"]),
        ("S2", "T1", ["2 dead job(s)", "printer printer: paper_out"]),
        ("S1", "T1", []),
        ("S3", "T1", []),
    ]
    assert main(["fleet", "status", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["STORE", "TILL", "STATE"]
    assert lines[1].split()[:3] == ["S1", "T2", "offline"] and lines[-1] == "chain acme: 5 till(s) in 3 store(s), 3 sick"


def test_a_viewer_account_reads_the_same(fleet: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.service("viewer", "viewer")
    assert main(["fleet", "status", "--config", str(fleet.hq / "bundles" / "viewer" / "viewer.toml"), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert {(t["store"], t["till"]) for t in body["tills"]} == {("S1", "T1"), ("S1", "T2"), ("S2", "T1"), ("S3", "T1")}


async def test_the_relay_metrics_carry_the_fleet_figures(fleet: Chain, tmp_path: Path) -> None:
    async with running_relay(relay_config(fleet, tmp_path / "relay")) as relay:
        await wait_until(lambda: len(relay.fleet) == 4, attempts=1000)
        await wait_until(lambda: relay.fleet.summary().offline == 1, attempts=1000)
        assert relay.metrics_url is not None
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(relay.metrics_url)).text
    for line in ['posagent_fleet_tills{state="online"} 3.0', 'posagent_fleet_tills{state="offline"} 1.0',
                 'posagent_fleet_tills{state="never_seen"} 1.0', "posagent_fleet_stores 3.0",
                 "posagent_fleet_stores_online 3.0", 'posagent_fleet_store_outbox_dead{store="S2"} 2.0',
                 'posagent_fleet_store_outbox_pending{store="S2"} 4.0', 'posagent_fleet_store_tills_offline{store="S2"} 1.0',
                 'posagent_fleet_store_tills_offline{store="S1"} 1.0', "posagent_fleet_tills_device_problem 1.0",
                 "posagent_relay_broker_connected 1.0", 'posagent_relay_callbacks_refused_total{reason="mac"} 0.0']:  # fmt: skip
        assert line in text.splitlines(), line


def test_an_unreachable_broker_is_one_line_and_exit_4(chain: Chain, broker: Broker, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    config = chain.relay_config(tmp_path / "relay")
    broker.stop()
    assert main(["fleet", "status", "--config", str(config), "--wait", "2"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read the statuses") and len(err.strip().splitlines()) == 1


def test_a_missing_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "status", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "(file): not found" in capsys.readouterr().err
