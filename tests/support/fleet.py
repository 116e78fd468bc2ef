"""The headquarters side of the fleet link, as the agent's tests need it: accounts on the test broker
(as `posagent fleet provision` writes them), a stand-in relay that seals callbacks with the contract's
`seal_callback` and publishes them at QoS 1 (waiting for the broker's PUBACK, as the relay does), and
a watcher of the tills' retained statuses (as the fleet view reads them).

The real relay lives in `relay/` (another branch); these stand-ins use only the shared contract in
`agent.fleet` and plain paho-mqtt.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.fleet.messages import (
    PAYLOAD_KEY_LABEL,
    Authorization,
    CallbackMessage,
    FleetMessageError,
    TillStatus,
    decode_status,
    seal_callback,
)
from agent.fleet.topics import TillRef, parse, status_filter
from hardware_sim.customer import open_card
from hardware_sim.printer import PrinterSimulator
from offline_queue import create_key_file, load_key_file
from tests.support.broker import Broker
from tests.support.daemon import Daemon, card_template, free_port, write_store_files
from tests.support.gateway import Store as GatewayStore

CHAIN = "acme"
RELAY_USER, RELAY_PASSWORD = "relay", "relay-" + "r" * 20
VIEWER_USER, VIEWER_PASSWORD = "viewer", "viewer-" + "v" * 20
PUBACK_TIMEOUT = 10.0


@dataclass(frozen=True)
class TillAccount:
    till: TillRef
    password: str
    password_file: Path
    key_file: Path
    payload_key: bytes  # what the relay seals this till's callbacks with

    @property
    def username(self) -> str:
        return self.till.name


def till_acl(till: TillRef) -> list[str]:
    return [f"topic read {till.callback_topic}", f"topic readwrite {till.status_topic}"]


def provision_till(broker: Broker, till: TillRef, folder: Path) -> TillAccount:
    """The till's broker account, password file and fleet key (headquarters keeps the same key)."""
    folder.mkdir(parents=True, exist_ok=True)
    password = "pw-" + secrets.token_urlsafe(18)
    password_file = folder / "fleet_password"
    password_file.write_text(password + "\n")
    os.chmod(password_file, 0o600)
    key_file = folder / "fleet.key"
    create_key_file(key_file)
    broker.add_user(till.name, password, till_acl(till))
    return TillAccount(till, password, password_file, key_file, load_key_file(key_file).derive(PAYLOAD_KEY_LABEL))


def provision_headquarters(broker: Broker, chain: str = CHAIN) -> None:
    broker.add_user(RELAY_USER, RELAY_PASSWORD, [f"topic write posagent/{chain}/+/+/callback"])
    broker.add_user(VIEWER_USER, VIEWER_PASSWORD, [f"topic read {status_filter(chain)}"])


def connected_client(broker: Broker, username: str, password: str, *, client_id: str | None = None,
                     on_message: Callable[[mqtt.Client, object, mqtt.MQTTMessage], None] | None = None,
                     subscribe: str | None = None, persistent: bool = False) -> mqtt.Client:  # fmt: skip
    """A plain paho client, connected over TLS with the test CA (fails the test if it cannot);
    `persistent`: resume (or start) a session the broker keeps for an hour after it leaves."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{secrets.token_hex(4)}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.tls_set_context(ssl.create_default_context(cafile=str(broker.ca_file)))
    client.username_pw_set(username, password)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, properties: object) -> None:
        if getattr(reason, "is_failure", False):
            refused.append(str(reason))
        elif subscribe:
            c.subscribe(subscribe, qos=1)
        connected.set()

    client.on_connect = on_connect
    if on_message is not None:
        client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600 if persistent else 0
    client.connect("127.0.0.1", broker.port, keepalive=30, clean_start=not persistent, properties=properties)
    client.loop_start()
    if not connected.wait(10) or refused:
        client.loop_stop()
        raise AssertionError(f"{username} could not connect to the test broker: {refused}")
    return client


class StandInRelay:
    """Publishes sealed callbacks to tills' topics at QoS 1 and returns once the broker acknowledged each."""

    def __init__(self, broker: Broker, accounts: Mapping[TillRef, TillAccount]) -> None:
        self.broker = broker
        self.accounts = dict(accounts)
        self._client = connected_client(broker, RELAY_USER, RELAY_PASSWORD)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def reconnect(self) -> None:
        """After a broker restart."""
        self.close()
        self._client = connected_client(self.broker, RELAY_USER, RELAY_PASSWORD)

    def seal(self, till: TillRef, params: Mapping[str, str], *, authorization: Authorization | None = None,
             message_id: str | None = None, topic: str | None = None) -> tuple[str, bytes]:  # fmt: skip
        message = CallbackMessage(message_id or secrets.token_hex(8), time.time(), dict(params), authorization)
        payload = seal_callback(self.accounts[till].payload_key, topic or till.callback_topic, message,
                                os.urandom(12))  # fmt: skip
        return message.id, payload

    def send(self, till: TillRef, params: Mapping[str, str], *, authorization: Authorization | None = None) -> str:
        """Seal and publish one callback; its message id."""
        message_id, payload = self.seal(till, params, authorization=authorization)
        self.publish(till.callback_topic, payload)
        return message_id

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(PUBACK_TIMEOUT)
        if not info.is_published():
            raise AssertionError(f"the broker did not acknowledge the message on {topic}")


class StatusWatcher:
    """Every till's retained status in the chain, as headquarters' fleet view sees it."""

    def __init__(self, broker: Broker, chain: str = CHAIN) -> None:
        self._lock = threading.Condition()
        self.latest: dict[TillRef, TillStatus] = {}
        self.raw: dict[TillRef, list[tuple[bytes, bool]]] = {}  # every payload seen, with its retain flag
        self._client = connected_client(broker, VIEWER_USER, VIEWER_PASSWORD, on_message=self._on_message,
                                        subscribe=status_filter(chain))  # fmt: skip

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        till, _ = parse(message.topic)
        with self._lock:
            self.raw.setdefault(till, []).append((bytes(message.payload), bool(message.retain)))
            if message.payload:
                try:
                    self.latest[till] = decode_status(till, bytes(message.payload))
                except FleetMessageError:
                    return
            self._lock.notify_all()

    def wait_for(self, till: TillRef, condition: Callable[[TillStatus], bool], timeout: float = 30.0) -> TillStatus:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                status = self.latest.get(till)
                if status is not None and condition(status):
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"status of {till.name} never matched; last: {status}")
                self._lock.wait(left)

    def payloads(self, till: TillRef) -> Iterator[bytes]:
        with self._lock:
            yield from [payload for payload, _ in self.raw.get(till, [])]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- a till of the chain: the real daemon, with membership cards and the fleet link ---------------------


@dataclass
class FleetTill:
    """The daemon of one till (printer, membership cards, [fleet]) and the headquarters around it."""

    daemon: Daemon
    printer: PrinterSimulator
    gateway: GatewayStore
    template_id: str
    broker: Broker
    account: TillAccount
    relay: StandInRelay
    root: Path

    @property
    def till(self) -> TillRef:
        return self.account.till

    def enroll(self, job_id: str, *, mobile: str = "13900001111") -> dict[str, str]:
        """member.enroll, the slip printed, the customer fills the form: the callback's parameters as
        Alipay sends them to the chain's callback address (not followed: the relay forwards them)."""
        with self.daemon.ecr() as ecr:
            ecr.request("member.enroll", {"job_id": job_id})
            ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == f"enroll-{job_id}"
                         and b["job"]["state"] == "printed", timeout=20)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            urls = [qr for job in self.printer.jobs() for qr in job.qr if f".{job_id}." in qr]
            if urls:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"no slip printed for {job_id}")
        result = open_card(urls[0], mobile=mobile, name="李雷", follow_callback=False)
        assert result.params.get("out_string", "").startswith(f"v1.{self.till.store}.{self.till.till}.{job_id}.")
        return result.params

    def cards(self) -> list[dict[str, Any]]:
        """The cards Alipay (the simulator) has opened."""
        return list(self.gateway.gateway.inspect()["cards"])

    def calls(self, method: str) -> int:
        return int(self.gateway.gateway.inspect()["calls"].get(method, 0))

    def wait_for_cards(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            cards = self.cards()
            if len(cards) >= count or time.monotonic() > deadline:
                return cards
            time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        """The daemon's /metrics samples by name and labels, e.g. 'posagent_fleet_messages_dropped{reason="unsealed"}'."""
        assert self.daemon.status_port is not None
        text = httpx.get(f"http://127.0.0.1:{self.daemon.status_port}/metrics", timeout=10).text
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples


def fleet_config(template_id: str, printer_port: int, broker_url: str, account: TillAccount, ca_file: Path) -> str:
    return f"""
[printer]
uri = "tcp://127.0.0.1:{printer_port}"
paper_mm = 80

[members]
template_id = "{template_id}"
callback_url = "https://cards.example.com/alipay/open-card"
level = "VIP1"
initial_points = "100"

[fleet]
chain = "{account.till.chain}"
broker = "{broker_url}"
key_file = "{account.key_file}"
password_file = "{account.password_file}"
ca_file = "{ca_file}"
keepalive_seconds = 5
status_interval_seconds = 0.5
"""


@contextlib.contextmanager
def fleet_till(root: Path, gateway: GatewayStore, broker: Broker, *, store: str = "SH01", till: str = "T1",
               broker_url: str | None = None) -> Iterator[FleetTill]:  # fmt: skip
    """A running till of the chain (`broker_url`: where the till reaches the broker, e.g. through a proxy)."""
    provision_headquarters(broker)
    account = provision_till(broker, TillRef(CHAIN, store, till), root / "fleet")
    template_id = card_template(gateway)
    relay = StandInRelay(broker, {account.till: account})
    with PrinterSimulator(root / "slips", paper_mm=80) as printer:
        port, status_port = free_port(), free_port()
        extra = fleet_config(template_id, printer.port, broker_url or broker.mqtt_url, account, broker.ca_file)
        config = write_store_files(root, gateway.gateway.url, gateway.gateway.alipay_public_key_pem, port, extra,
                                   status_port=status_port)  # fmt: skip
        config.write_text(config.read_text().replace('id = "SH01"\ntill_id = "T1"', f'id = "{store}"\ntill_id = "{till}"'))
        daemon = Daemon(config, port, root / "daemon.log", status_port=status_port)
        daemon.start()
        try:
            yield FleetTill(daemon, printer, gateway, template_id, broker, account, relay, root)
        finally:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.stop()
            relay.close()
