"""The relay's MQTT connection (paho-mqtt, MQTT 5, TLS): publish and await the broker's PUBACK from asyncio,
and follow the chain's retained statuses.

paho runs its network loop in its own thread; everything it reports (PUBACK, a status, a disconnect) is
handed to the event loop with `call_soon_threadsafe`, so the relay's state is only touched from the loop.
`publish` is called on the loop and registers its future before the loop can run paho's report, so a
PUBACK can never arrive "before" its publish.

What a publish can end in (`PublishError.reason`, a metrics label):
- `broker_down`: not connected (nothing is sent: paho would queue it and send it after the customer was
  told to try again), or the connection was lost before the PUBACK;
- `no_puback`: no PUBACK in time;
- `no_subscriber`: the broker took it but no session subscribes to the till's topic (the till never
  connected, or its session expired): the message is gone, nobody would ever receive it;
- `refused`: the broker refused it (the relay's ACL does not cover the topic, or another reason code).

Each instance connects with its own client id (`<prefix>-<random>`) and a clean session: it keeps no state
at the broker, so instances can come and go behind a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from agent.fleet.broker_url import BrokerUrl

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason code: accepted, but nobody subscribes


class PublishError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BrokerLogin:
    address: BrokerUrl
    username: str
    password: str
    ca_file: Path | None
    client_id: str
    keepalive: int = 30
    max_inflight: int = 100

    def __repr__(self) -> str:  # the password is a secret
        return f"BrokerLogin({self.address}, user={self.username!r}, client_id={self.client_id!r})"


def client_id(prefix: str) -> str:
    return f"{prefix}-{os.urandom(6).hex()}"


def make_client(login: BrokerLogin) -> mqtt.Client:
    """A paho client for the broker: MQTT 5, TLS verified against `ca_file` (or the system's CAs)."""
    address = login.address
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=login.client_id, protocol=mqtt.MQTTv5,
                         transport=address.transport)  # fmt: skip
    if address.transport == "websockets":
        client.ws_set_options(path=address.path or "/mqtt")
    if address.tls:
        context = ssl.create_default_context(cafile=str(login.ca_file) if login.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        client.tls_set_context(context)
    client.username_pw_set(login.username, login.password)
    client.max_inflight_messages_set(login.max_inflight)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


def _failed(code: Any) -> bool:
    return bool(getattr(code, "is_failure", False))


class BrokerLink:
    """One MQTT connection, shared by the callbacks a relay instance publishes and the statuses it follows."""

    def __init__(self, login: BrokerLogin, *, status_filter: str | None = None,
                 on_status: Callable[[str, bytes], None] | None = None) -> None:  # fmt: skip
        self.login = login
        self.status_filter = status_filter
        self.on_status = on_status
        self.client = make_client(login)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._connected = False
        self._stopping = False
        self._subscribed = asyncio.Event()
        self.last_refusal: str | None = None  # why the broker refused the login, if it did
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def subscribed(self) -> asyncio.Event:
        """Set once the status subscription is acknowledged (the retained statuses follow it)."""
        return self._subscribed

    def start(self) -> None:
        """Connect in the background (and reconnect whenever the connection drops)."""
        self._loop = asyncio.get_running_loop()
        address = self.login.address
        self.client.connect_async(address.host, address.port, keepalive=self.login.keepalive, clean_start=True)
        self.client.loop_start()

    async def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)
        self._connected = False
        self._fail_pending("the relay is stopping")

    async def publish(self, topic: str, payload: bytes, timeout: float) -> None:
        """Publish at QoS 1 and return once the broker acknowledged it; PublishError otherwise."""
        if not self._connected:
            raise PublishError("broker_down", "not connected to the broker")
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError("broker_down", f"the broker connection failed ({mqtt.error_string(info.rc)})")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[info.mid] = future  # before paho's report can be run (it waits for this loop)
        try:
            code = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise PublishError("no_puback", f"no PUBACK within {timeout:g} s") from None
        finally:
            self._pending.pop(info.mid, None)
        if code == NO_MATCHING_SUBSCRIBERS:
            raise PublishError("no_subscriber", f"no session subscribes to {topic}")
        if code >= 0x80:
            raise PublishError("refused", f"the broker refused the publish (reason code {code})")

    # --- paho's thread -> the loop ------------------------------------------------------------------

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if _failed(reason):
            self._to_loop(self._refused, str(reason))
            return
        if self.status_filter is not None:
            client.subscribe(self.status_filter, qos=1)
        self._to_loop(self._set_connected, True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       props: Any) -> None:  # fmt: skip
        self._to_loop(self._set_connected, False)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any) -> None:
        self._to_loop(self._acked, mid, int(reason.value))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.on_status is not None:
            self._to_loop(self.on_status, message.topic, bytes(message.payload))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      props: Any) -> None:  # fmt: skip
        if reasons and all(not _failed(r) for r in reasons):
            self._to_loop(self._subscribed.set)
        else:
            self._to_loop(log.error, "the broker refused the status subscription (%s): check the ACL",
                          ", ".join(str(r) for r in reasons))  # fmt: skip

    # --- on the loop --------------------------------------------------------------------------------

    def _set_connected(self, connected: bool) -> None:
        if connected and not self._connected:
            log.info("connected to the broker %s as %s", self.login.address, self.login.username)
            self.last_refusal = None
        elif not connected and self._connected and not self._stopping:
            log.warning("lost the broker connection; reconnecting (callbacks meanwhile get 503)")
            self._subscribed.clear()
        self._connected = connected
        if not connected:
            self._fail_pending("the broker connection was lost before its PUBACK")

    def _refused(self, reason: str) -> None:
        if reason != self.last_refusal:
            log.error("the broker refused the relay's login as %s: %s (check [broker] username and password_file, "
                      "and the broker's password file)", self.login.username, reason)  # fmt: skip
        self.last_refusal = reason
        self._set_connected(False)

    def _acked(self, mid: int, code: int) -> None:
        future = self._pending.get(mid)
        if future is not None and not future.done():
            future.set_result(code)

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PublishError("broker_down", why))
