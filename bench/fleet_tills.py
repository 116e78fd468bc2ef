"""Thousands of simulated tills on one broker, for the fleet benchmarks: lightweight, but each a real MQTT 5
client with its own persistent session, credentials, subscription at QoS 1 and manual acknowledgement.

All the clients of a pool share one asyncio loop (paho's socket callbacks, as paho's loop_asyncio example
does), instead of a thread each. A till "commits" a callback the way the agent does before it
acknowledges it: a durable insert into an outbox keyed by the callback's request_id (so a redelivery is
absorbed), then the PUBACK. What the pool measures: the delay from the relay receiving the customer's
GET (`received_at`, sealed in the message) to that commit.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.fleet.messages import FleetMessageError, open_callback
from agent.fleet.topics import TillRef
from offline_queue import Outbox

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600


@dataclass
class Delivery:
    till: str
    request_id: str
    latency: float  # seconds from the relay's receipt of the GET to the commit at the till
    duplicate: bool


@dataclass
class SimulatedTill:
    ref: TillRef
    password: str
    payload_key: bytes
    client: mqtt.Client | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)


class AsyncioSockets:
    """Drives one paho client's socket from an asyncio loop (paho's own loop_asyncio pattern)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: mqtt.Client) -> None:
        self.loop = loop
        self.client = client
        self.misc: asyncio.Task[None] | None = None
        client.on_socket_open = self.opened
        client.on_socket_close = self.closed
        client.on_socket_register_write = self.want_write
        client.on_socket_unregister_write = self.done_writing

    def opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)
        if self.misc is None or self.misc.done():
            self.misc = self.loop.create_task(self.housekeeping())

    def closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)

    def want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def done_writing(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    async def housekeeping(self) -> None:
        while self.client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1)


class TillPool:
    """`tills` on `host:port` (TLS with `ca_file`), committing into one outbox at `database`."""

    def __init__(self, tills: list[SimulatedTill], *, host: str, port: int, ca_file: Path, database: Path,
                 key_file: Path, on_delivery: Callable[[Delivery], None]) -> None:  # fmt: skip
        self.tills = tills
        self.host, self.port = host, port
        self.tls = ssl.create_default_context(cafile=str(ca_file))
        self.outbox = Outbox.open(database, key_file=key_file)
        self.on_delivery = on_delivery
        self._seen: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def connect(self, tills: list[SimulatedTill] | None = None, *, concurrency: int = 64) -> None:
        """Connect (or reconnect) the tills, each resuming its persistent session."""
        self._loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)

        async def one(till: SimulatedTill) -> None:
            async with gate:
                till.connected.clear()
                client = self._client(till)
                till.client = client
                await asyncio.to_thread(client.connect, self.host, self.port, 60, "", 0, False,
                                        self._session_properties())  # fmt: skip
                AsyncioSockets(self._loop, client)  # type: ignore[arg-type]
                # The socket exists now: hand it to the loop (paho told no one while connect() ran).
                sock = client.socket()
                assert isinstance(sock, socket.socket | ssl.SSLSocket)
                self._loop.add_reader(sock, client.loop_read)  # type: ignore[union-attr]
                if client.want_write():
                    self._loop.add_writer(sock, client.loop_write)  # type: ignore[union-attr]
                await asyncio.wait_for(till.connected.wait(), 30)

        await asyncio.gather(*(one(t) for t in (tills if tills is not None else self.tills)))

    async def disconnect(self, tills: list[SimulatedTill]) -> None:
        """Go away without ending the session: the broker keeps queueing for these tills."""
        for till in tills:
            if till.client is not None:
                till.client.disconnect()
                till.client = None
        await asyncio.sleep(0.2)

    def _session_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        return properties

    def _client(self, till: SimulatedTill) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{till.ref.chain}-{till.ref.name}",
                             protocol=mqtt.MQTTv5, manual_ack=True)  # fmt: skip
        client.username_pw_set(till.ref.name, till.password)
        client.tls_set_context(self.tls)

        def connected(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            if not reason.is_failure:
                c.subscribe(till.ref.callback_topic, qos=1)
                till.connected.set()

        def message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            self._commit(till, c, msg)

        client.on_connect = connected
        client.on_message = message
        return client

    def _commit(self, till: SimulatedTill, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        try:
            callback = open_callback(till.payload_key, msg.topic, msg.payload)
        except FleetMessageError:
            client.ack(msg.mid, msg.qos)  # not ours: dropped, as the agent does
            return
        request_id = callback.params.get("request_id", "")
        # The effect is idempotent (the key); the set only tells the bench that a delivery was a repeat.
        self.outbox.enqueue("card.authorize", {"till": till.ref.name, "request_id": request_id},
                            idempotency_key=f"callback:{request_id}")  # fmt: skip
        duplicate = request_id in self._seen
        self._seen.add(request_id)
        self.on_delivery(Delivery(till.ref.name, request_id, time.time() - callback.received_at, duplicate))
        client.ack(msg.mid, msg.qos)


def new_payload_key() -> bytes:
    return os.urandom(32)
