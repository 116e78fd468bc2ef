"""A chain on this machine for the relay's tests: a real Mosquitto whose accounts and ACL are the files
`posagent fleet provision` wrote, the relay's config, and tills stood in for by plain paho subscribers
with the till's credentials (the agent's side of the link is another branch's; the integrator adds the
cross tests).

    chain.till("S1", "T1") -> TillAccount (password, fleet key)
    chain.callback_query(till, job="E1")   a genuine callback for a slip that till printed
    with chain.listen(till) as inbox: ...   the till's persistent session, collecting what arrives
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.fleet.messages import PAYLOAD_KEY_LABEL, CallbackMessage, open_callback
from agent.fleet.topics import TillRef
from agent.members import out_string
from offline_queue import load_key_file
from relay.app import Relay
from relay.config import RelayConfig, load_relay_config, load_secrets
from relay.provision.accounts import Account
from relay.provision.files import provision
from tests.support.broker import Broker
from tests.support.waiting import wait_until

CHAIN = "acme"
APP_ID = "2021000000000001"
TEMPLATE_ID = "20240101000000000001"


@dataclass(frozen=True)
class TillAccount:
    ref: TillRef
    password: str
    key_file: Path

    @property
    def mac_key(self) -> bytes:
        return load_key_file(self.key_file).derive(out_string.KEY_LABEL)

    @property
    def payload_key(self) -> bytes:
        return load_key_file(self.key_file).derive(PAYLOAD_KEY_LABEL)


@dataclass
class Inbox:
    """What a till's session received: (topic, payload) pairs, in order."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.messages.append((topic, payload))

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def opened(self, till: TillAccount) -> list[CallbackMessage]:
        """Every message, opened as the till opens it (FleetMessageError if one does not open)."""
        with self.lock:
            return [open_callback(till.payload_key, topic, payload) for topic, payload in self.messages]


def mqtt_client(broker: Broker, username: str, password: str, *, client_id: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{os.urandom(4).hex()}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.tls_set_context(ssl.create_default_context(cafile=str(broker.ca_file)))
    client.username_pw_set(username, password)
    return client


def connect(client: mqtt.Client, broker: Broker, *, clean_start: bool = True, expiry: int = 0) -> Any:
    """Connect and wait for CONNACK; returns its reason code."""
    done = threading.Event()
    result: list[Any] = []

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        result.append(reason)
        done.set()

    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = expiry
    client.connect("127.0.0.1", broker.port, clean_start=clean_start, properties=properties)
    client.loop_start()
    assert done.wait(10), "no CONNACK"
    return result[0]


def subscribe(client: mqtt.Client, topic: str) -> list[Any]:
    """Subscribe at QoS 1 and wait for SUBACK; its reason codes."""
    done = threading.Event()
    result: list[Any] = []

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], props: Any) -> None:
        result.extend(reasons)
        done.set()

    client.on_subscribe = on_subscribe
    client.subscribe(topic, qos=1)
    assert done.wait(10), "no SUBACK"
    return result


def publish(client: mqtt.Client, topic: str, payload: bytes, *, retain: bool = False) -> int:
    """Publish at QoS 1 and wait for PUBACK; its reason code value."""
    done = threading.Event()
    result: list[int] = []

    def on_publish(c: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        result.append(int(reason.value))
        done.set()

    client.on_publish = on_publish
    client.publish(topic, payload, qos=1, retain=retain)
    assert done.wait(10), "no PUBACK"
    return result[0]


@dataclass
class Chain:
    hq: Path
    broker: Broker
    relay_password: str = ""
    tills: dict[str, TillAccount] = field(default_factory=dict)

    def till(self, store: str, till: str) -> TillAccount:
        ref = TillRef(CHAIN, store, till)
        if ref.name not in self.tills:
            done = provision(self.hq, CHAIN, Account.for_till(ref), broker=self.broker.mqtt_url,
                             ca_file=self.broker.ca_file)  # fmt: skip
            self.broker.use_accounts(self.hq / "passwd", self.hq / "acl")
            password = (done.bundle / "fleet_password").read_text().strip()
            self.tills[ref.name] = TillAccount(ref, password, self.hq / "keys" / f"{ref.name}.key")
        return self.tills[ref.name]

    def service(self, role: str, name: str) -> str:
        """Provision the relay's or a viewer's account; its password."""
        done = provision(self.hq, CHAIN, Account.service(name, role), broker=self.broker.mqtt_url,  # type: ignore[arg-type]
                         ca_file=self.broker.ca_file)  # fmt: skip
        self.broker.use_accounts(self.hq / "passwd", self.hq / "acl")
        return (done.bundle / f"{role}_password").read_text().strip()

    def relay_config(self, folder: Path, extra: str = "", *, port: int = 0, metrics_port: int = 0) -> Path:
        """A relay config (the provisioned relay account's snippet plus the rest)."""
        snippet = (self.hq / "bundles" / "relay" / "relay.toml").read_text()
        snippet = snippet.replace("[chain]\n", f'[chain]\napp_id = "{APP_ID}"\ntemplate_ids = ["{TEMPLATE_ID}"]\n')
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "relay.toml"
        config.write_text(f"""\
[relay]
public_url = "https://cards.example.com/alipay/open-card"
host = "127.0.0.1"
port = {port}

[metrics]
port = {metrics_port}

{snippet}
{extra}""")
        return config

    def callback_query(self, till: TillAccount, job: str = "E1", *, request_id: str | None = None,
                       auth_code: str | None = None, **extra: str) -> str:  # fmt: skip
        slip = out_string.encode(till.mac_key, out_string.SlipRef(till.ref.store, till.ref.till, job))
        params = {"app_id": APP_ID, "auth_code": auth_code or f"ac{os.urandom(8).hex()}", "template_id": TEMPLATE_ID,
                  "request_id": request_id or f"2026{int.from_bytes(os.urandom(8)):025d}"[:29],
                  "out_string": slip, "scope": "auth_ecard", **extra}  # fmt: skip
        return urlencode(params)

    @contextlib.contextmanager
    def listen(self, till: TillAccount, *, topic: str | None = None) -> Iterator[Inbox]:
        """The till's persistent session (as the agent keeps it), subscribed to its callback topic."""
        inbox = Inbox()
        client = mqtt_client(self.broker, till.ref.name, till.password, client_id=f"till-{till.ref.name}")
        client.on_message = lambda c, u, m: inbox.add(m.topic, bytes(m.payload))
        connect(client, self.broker, clean_start=False, expiry=3600)
        reasons = subscribe(client, topic or till.ref.callback_topic)
        assert all(not r.is_failure for r in reasons), reasons
        try:
            yield inbox
        finally:
            client.disconnect()
            client.loop_stop()


@pytest.fixture
def chain(broker: Broker, tmp_path: Path) -> Chain:
    made = Chain(tmp_path / "hq", broker)
    made.relay_password = made.service("relay", "relay")
    return made


def relay_config(chain: Chain, folder: Path, extra: str = "") -> RelayConfig:
    return load_relay_config(chain.relay_config(folder, extra))


@contextlib.asynccontextmanager
async def running_relay(config: RelayConfig) -> AsyncIterator[Relay]:
    """A relay instance in this process, connected to the broker."""
    secrets = load_secrets(config, "relay.toml")
    async with Relay(config, secrets) as relay:
        await wait_until(lambda: relay.broker.connected, attempts=1000)
        yield relay


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    """A bounded wait from a synchronous test (fails only on a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
