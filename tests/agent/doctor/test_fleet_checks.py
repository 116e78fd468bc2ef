"""The doctor knows the fleet link: the broker reachable, its TLS certificate verifying, this till's
credentials accepted, its callback topic subscribed (against a real Mosquitto); each problem named with
its fix, the later checks skipped, no secret in any finding, and the running till's session untouched."""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from agent.doctor import Context, Finding, run_doctor
from agent.doctor.checks.fleet import judge_subscription
from agent.fleet.topics import TillRef
from tests.support.broker import Broker, make_tls_files
from tests.support.daemon import free_port, write_store_files
from tests.support.fleet import (
    CHAIN,
    StandInRelay,
    TillAccount,
    connected_client,
    provision_headquarters,
    provision_till,
)
from tests.support.tcp_proxy import TcpProxy

TILL = TillRef(CHAIN, "SH01", "T1")
NAMES = ("fleet.broker", "fleet.tls", "fleet.credentials", "fleet.subscription")


class Site:
    def __init__(self, root: Path, broker: Broker, account: TillAccount) -> None:
        self.root, self.broker, self.account = root, broker, account
        self.config = write_store_files(root, "http://127.0.0.1:9/gateway.do", "unused", free_port())
        self.fleet(broker.mqtt_url)

    def fleet(self, url: str, ca_file: Path | None = None, **extra: str) -> None:
        text = self.config.read_text().split("\n[fleet]\n")[0]
        lines = [f'chain = "{CHAIN}"', f'broker = "{url}"', f'key_file = "{self.account.key_file}"',
                 f'password_file = "{self.account.password_file}"', f'ca_file = "{ca_file or self.broker.ca_file}"',
                 *(f'{k} = "{v}"' for k, v in extra.items())]  # fmt: skip
        self.config.write_text(text + "\n[fleet]\n" + "\n".join(lines) + "\n")

    def findings(self, *only: str) -> dict[str, Finding]:
        context = Context(self.config, service_user=pwd.getpwuid(os.getuid()).pw_name, network_timeout=3.0)
        return {f.name: f for f in run_doctor(only=only or ("fleet",), context=context).findings}


@pytest.fixture
def site(tmp_path: Path, broker: Broker) -> Iterator[Site]:
    provision_headquarters(broker)
    yield Site(tmp_path, broker, provision_till(broker, TILL, tmp_path / "fleet"))


def statuses(findings: dict[str, Finding]) -> dict[str, str]:
    return {name: findings[name].status.value for name in NAMES if name in findings}


def no_secret_in(site: Site, findings: dict[str, Finding]) -> None:
    text = json.dumps([f.to_json() for f in findings.values()])
    assert site.account.password not in text and site.account.key_file.read_text().strip() not in text


@pytest.mark.parametrize("websockets", [False, True], ids=["mqtts", "wss"])
def test_a_working_link_passes_every_check(site: Site, broker: Broker, websockets: bool) -> None:
    site.fleet(broker.ws_url if websockets else broker.mqtt_url)
    findings = site.findings("fleet", "keys")
    assert statuses(findings) == dict.fromkeys(NAMES, "OK"), findings
    assert {findings[k].status.value for k in ("key.fleet", "key.fleet_password", "key.fleet_ca")} == {"OK"}
    assert "subscribed at QoS 1" in findings["fleet.subscription"].message
    no_secret_in(site, findings)


def test_the_probe_leaves_the_tills_session_and_status_alone(site: Site, broker: Broker) -> None:
    relay = StandInRelay(broker, {TILL: site.account})
    received: list[bytes] = []
    # The till's own persistent session (as the running agent holds it), then away: a callback waits for it.
    till = connected_client(broker, site.account.username, site.account.password, client_id="posagent-acme-SH01-T1",
                            subscribe=TILL.callback_topic, persistent=True)  # fmt: skip
    till.disconnect()
    till.loop_stop()
    relay.send(TILL, {"auth_code": "a"})
    assert statuses(site.findings()) == dict.fromkeys(NAMES, "OK")
    back = connected_client(broker, site.account.username, site.account.password, client_id="posagent-acme-SH01-T1",
                            on_message=lambda c, u, m: received.append(bytes(m.payload)), persistent=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not received:  # still queued for the till: the doctor took nothing over
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        back.disconnect()
        back.loop_stop()
        relay.close()


def test_a_broker_nobody_answers_at_is_a_network_problem(site: Site) -> None:
    site.fleet(f"mqtts://127.0.0.1:{free_port()}")
    findings = site.findings()
    assert statuses(findings) == {"fleet.broker": "FAIL", "fleet.tls": "WARN", "fleet.credentials": "WARN",
                                  "fleet.subscription": "WARN"}  # fmt: skip
    assert "refused the connection" in findings["fleet.broker"].message
    assert "firewall" in (findings["fleet.broker"].fix or "") and "wss://" in (findings["fleet.broker"].fix or "")


def test_a_line_that_swallows_everything_is_a_network_problem(site: Site, broker: Broker) -> None:
    with TcpProxy(("127.0.0.1", broker.port)) as line:
        line.freeze()
        site.fleet(f"mqtts://127.0.0.1:{line.port}")
        findings = site.findings()
        assert findings["fleet.tls"].status.value == "FAIL" and "did not answer" in findings["fleet.tls"].message
        line.thaw()


def test_a_certificate_from_another_ca_is_a_tls_problem(site: Site, broker: Broker, tmp_path: Path) -> None:
    other_ca, _, _ = make_tls_files(tmp_path / "other")
    site.fleet(broker.mqtt_url, ca_file=other_ca)
    findings = site.findings()
    assert statuses(findings) == {"fleet.broker": "OK", "fleet.tls": "FAIL", "fleet.credentials": "WARN",
                                  "fleet.subscription": "WARN"}  # fmt: skip
    assert "does not verify" in findings["fleet.tls"].message and "ca_file" in (findings["fleet.tls"].fix or "")


def test_a_wrong_password_is_a_credentials_problem(site: Site) -> None:
    site.account.password_file.write_text("not-the-password\n")
    findings = site.findings()
    assert statuses(findings) == {"fleet.broker": "OK", "fleet.tls": "OK", "fleet.credentials": "FAIL",
                                  "fleet.subscription": "WARN"}  # fmt: skip
    assert "refused this till's credentials" in findings["fleet.credentials"].message
    assert "password_file" in (findings["fleet.credentials"].fix or "")
    assert "not-the-password" not in json.dumps([f.to_json() for f in findings.values()])


def test_an_unknown_user_is_a_credentials_problem(site: Site) -> None:
    site.fleet(site.broker.mqtt_url, username="SH99-T9")
    assert site.findings()["fleet.credentials"].status.value == "FAIL"


def test_a_refused_or_downgraded_subscription_is_named() -> None:
    refused = judge_subscription(ReasonCode(PacketTypes.SUBACK, "Not authorized"), TILL.callback_topic)
    assert refused.status.value == "FAIL" and "Not authorized" in refused.message and "ACL" in (refused.fix or "")
    downgraded = judge_subscription(ReasonCode(PacketTypes.SUBACK, "Granted QoS 0"), TILL.callback_topic)
    assert downgraded.status.value == "FAIL" and "QoS 0" in downgraded.message
    assert judge_subscription(None, TILL.callback_topic).status.value == "FAIL"


def test_without_a_fleet_section_there_is_nothing_to_check(tmp_path: Path) -> None:
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", "unused", free_port())
    context = Context(config, service_user=pwd.getpwuid(os.getuid()).pw_name)
    (finding,) = run_doctor(only=("fleet",), context=context).findings
    assert (finding.name, finding.status.value) == ("fleet", "OK") and "not set" in finding.message


def test_fleet_files_are_checked_like_the_other_keys(site: Site) -> None:
    os.chmod(site.account.key_file, 0o644)
    site.account.password_file.write_text("")
    findings = site.findings("keys")
    assert findings["key.fleet"].status.value == "FAIL" and "chmod 600" in (findings["key.fleet"].fix or "")
    assert findings["key.fleet_password"].status.value == "FAIL" and "empty" in findings["key.fleet_password"].message
    make_tls_files(site.root / "tls")
    (site.root / "bad-ca.pem").write_text("not a certificate")
    site.fleet(site.broker.mqtt_url, ca_file=site.root / "bad-ca.pem")
    assert site.findings("keys")["key.fleet_ca"].status.value == "FAIL"
