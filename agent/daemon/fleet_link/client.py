"""The fleet link's I/O shell: one paho-mqtt client (its own network thread), handing everything to
the event loop, where the pure parts decide.

- Session: MQTT 5, clean start off, session expiry from the config, one client id per till: the broker
  keeps the till's subscription and queues its callbacks while it is away.
- Security: TLS with server verification (the configured CA file, else the system's CAs), user name and
  password, outbound only (8883, or WebSockets on 443).
- Reconnect: paho's, with the delay chosen here (exponential backoff, full jitter, at most 60 s), so
  hundreds of tills that lost the broker together do not come back in step.
- Callbacks: subscribed at QoS 1 with manual acknowledgement; a message is acknowledged only once
  `delivery` says it is settled (see there), on the connection it came on. One at a time, in order;
  one that must wait for a transient failure waits aside.
- Status: retained, with a last will (offline, "connection lost"); "stopped" on a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.fleet.messages import CallbackMessage, FleetMessageError, TillStatus, encode_status
from agent.throttled_log import ThrottledLog
from offline_queue import Backoff

from .delivery import RETRY_BACKOFF, Held, Outcome, Retries, Verdict, open_message
from .settings import RECEIVE_MAXIMUM, LinkSettings
from .state import LinkPhase, LinkState
from .status import CONNECTION_LOST, STOPPED, StatusSchedule, change_key, offline

log = logging.getLogger(__name__)

RECONNECT_BACKOFF = Backoff(base=1.0, factor=2.0, cap=60.0)
STOP_PUBLISH_SECONDS = 5.0  # the "stopped" status: how long a graceful stop waits for the broker's PUBACK
CONNECT_TIMEOUT_SECONDS = 10.0
BURST_SECONDS = 0.25  # changes come in bursts (a job and its events): read the status once they settled


def connect_error_text(error: BaseException | None, where: str) -> str:
    """Why a connection attempt failed, for technicians (no secret: addresses and error names only)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS: the certificate of {where} does not verify ({error.verify_message or error.reason})"
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed ({error.reason or type(error).__name__})"
    if isinstance(error, socket.gaierror):
        return f"the broker's name does not resolve (DNS): {where}"
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection (nothing listens there)"
    if isinstance(error, TimeoutError):
        return f"{where} did not answer in time (a firewall dropping the port?)"
    if isinstance(error, mqtt.WebsocketConnectionError):
        return f"{where} refused the WebSocket handshake (is the path right?)"
    if isinstance(error, OSError):
        return f"cannot connect to {where}: {error.strerror or type(error).__name__}"
    return f"cannot connect to {where}"


def refusal_text(reason: ReasonCode) -> str:
    """A CONNACK refusal in words, with what it usually means."""
    name = reason.getName()
    if reason.value in (0x86, 0x87, 0x8C):  # bad user name or password, not authorized, bad authentication method
        return f"the broker refused this till's credentials ({name}): check [fleet] username and password_file"
    if reason.value == 0x85:
        return f"the broker refused the client id ({name}): check [fleet] client_id"
    return f"the broker refused the connection ({name})"


class _Client(mqtt.Client):
    """paho's client, remembering why the last connection attempt failed (its on_connect_fail does not say)."""

    last_connect_error: BaseException | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_connect_error = exc
            raise


@dataclass(frozen=True)
class Handle:
    """How to acknowledge one message: its packet id on the connection (generation) it came on."""

    mid: int
    qos: int
    generation: int


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    handle: Handle


class FleetLink:
    """`deliver(message)` queues a callback's card opening (blocking; run in a worker thread) and says
    how it went; `status()` gives the till's current status."""

    def __init__(self, settings: LinkSettings, *, deliver: Callable[[CallbackMessage], Verdict],
                 status: Callable[[], Awaitable[TillStatus]], clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, retry_backoff: Backoff = RETRY_BACKOFF) -> None:  # fmt: skip
        self.settings = settings
        self._deliver = deliver
        self._status = status
        self._clock = clock
        self._rng = rng or random.Random()  # jitter, not a secret
        till = settings.till
        self.state = LinkState(broker=str(settings.broker), client_id=settings.client_id, topic=till.callback_topic)
        self._retries: Retries[Handle] = Retries(retry_backoff)
        self._stopping = False
        self._schedule = StatusSchedule(settings.status_interval_seconds)
        self._drops = ThrottledLog(log, time.monotonic, "messages dropped (not sealed for this till)")
        self._refusals = ThrottledLog(log, time.monotonic, "callbacks refused")
        self._generation = 0  # connections so far: written by paho's thread, read on the loop
        self._failures = 0  # connection attempts failed in a row (paho's thread)
        self._refusal: str | None = None  # the last CONNACK refusal, until its disconnect is reported
        self._last_status: TillStatus | None = None
        self._client: _Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[Received] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._online = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._attempt: asyncio.Future[Verdict] | None = None
        self._lock = threading.Lock()  # the last status, read by paho's thread for the will

    # --- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.state.since = self._clock()
        try:  # the will is fixed at each connection: give it what is known now
            self._last_status = await self._status()
        except Exception as exc:
            log.warning("fleet link: the status could not be read (%s)", type(exc).__name__)
        client = self._make_client()
        self._client = client
        broker = self.settings.broker
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.settings.session_expiry_seconds
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        client.connect_async(broker.host, broker.port, keepalive=self.settings.keepalive_seconds, clean_start=False,
                             properties=properties)  # fmt: skip
        client.loop_start()
        self._tasks = [asyncio.create_task(self._work(), name="fleet link: callbacks"),
                       asyncio.create_task(self._publish_status(), name="fleet link: status")]  # fmt: skip
        log.info("fleet link: connecting to %s as %s (client id %s)", broker, self.settings.username,
                 self.settings.client_id)  # fmt: skip

    def _make_client(self) -> _Client:
        s = self.settings
        client = _Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5,
                         transport=s.broker.transport, manual_ack=True,
                         reconnect_on_failure=True)  # fmt: skip
        client.connect_timeout = CONNECT_TIMEOUT_SECONDS
        if s.broker.websockets:
            client.ws_set_options(path=s.broker.path or "/mqtt")
        if s.broker.tls:
            # Verifies the chain and the host name; with a CA file, only that CA is trusted.
            client.tls_set_context(ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None))
        client.username_pw_set(s.username, s.password)
        client.reconnect_delay_set(1, 1)  # replaced before each wait (`_backoff`)
        self._set_will(client)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    async def stop(self, timeout: float = STOP_PUBLISH_SECONDS) -> None:
        """Say "stopped" (retained), then leave the session (kept by the broker: callbacks queue there)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._attempt is not None:  # a card opening being committed: let it finish (it is never acked now)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._attempt), timeout)
        client = self._client
        if client is None:
            return
        if self.state.phase is LinkPhase.CONNECTED:
            stopped = offline(self._last_status, self.settings.till, reason=STOPPED, at=self._clock())
            info = self._publish_status_message(client, stopped)
            try:
                await asyncio.to_thread(info.wait_for_publish, timeout)
            except (RuntimeError, ValueError) as exc:  # not connected any more
                log.debug("fleet link: the stopped status was not sent: %s", exc)
        client.disconnect()  # a normal DISCONNECT: the broker drops the will and keeps the session
        try:  # paho's thread may be inside a blocking (re)connect: the stop does not wait for it for long
            await asyncio.wait_for(asyncio.to_thread(client.loop_stop), timeout)
        except TimeoutError:
            log.warning("fleet link: the MQTT client did not stop within %.0f s; leaving it", timeout)
        self.state.disconnected(self._clock(), "stopped")
        log.info("fleet link: disconnected (the broker keeps this till's callbacks until it is back)")

    def notify_change(self) -> None:
        """Something the status shows may have changed (called on the event loop)."""
        self._changed.set()

    # --- paho's thread: hand everything to the loop, never raise into paho --------------------------

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(callback, *args)

    def _set_will(self, client: mqtt.Client) -> None:
        with self._lock:
            last = self._last_status
        will = offline(last, self.settings.till, reason=CONNECTION_LOST, at=self._clock())
        client.will_set(self.settings.till.status_topic, encode_status(will), qos=1, retain=True)

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            self._set_will(client)  # the last known state, should this connection be lost
            self._post(self.state.connecting, self._clock())
        except Exception:
            log.exception("fleet link: preparing the connection failed")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:  # fmt: skip
        try:
            if reason.is_failure:
                self._refusal = refusal_text(reason)
                return
            self._generation += 1
            self._failures = 0
            client.subscribe(self.settings.till.callback_topic, options=SubscribeOptions(qos=1))
            self._post(self._connected, flags.session_present)
        except Exception:
            log.exception("fleet link: handling the broker's answer failed")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            error = connect_error_text(getattr(client, "last_connect_error", None), str(self.settings.broker))
            self._post(self._lost, error)
            self._backoff(client)
        except Exception:
            log.exception("fleet link: handling a failed connection failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:  # fmt: skip
        try:
            refusal, self._refusal = self._refusal, None
            if refusal is not None:
                text = refusal
            elif flags.is_disconnect_packet_from_server:
                text = f"{self.settings.broker} closed the connection ({reason.getName()})"
            else:  # paho's own reason names say little here (a keep-alive missed, the line closed)
                text = f"the connection to {self.settings.broker} was lost"
            self._post(self._lost, text)
            self._backoff(client)
        except Exception:
            log.exception("fleet link: handling a lost connection failed")

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:  # fmt: skip
        try:
            reason = reasons[0] if reasons else None
            granted = reason is not None and not reason.is_failure and reason.value == 1
            detail = "none given" if reason is None else reason.getName()
            self._post(self._subscribed, granted, detail)
        except Exception:
            log.exception("fleet link: handling the subscription's answer failed")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            received = Received(message.topic, bytes(message.payload), Handle(message.mid, message.qos,
                                                                               self._generation))  # fmt: skip
        except Exception:  # a topic that is not UTF-8: not for us, but the broker waits for its ack
            received = Received("", b"", Handle(message.mid, message.qos, self._generation))
        self._post(self._inbox.put_nowait, received)

    def _backoff(self, client: mqtt.Client) -> None:
        """The wait before the next attempt: exponential, full jitter, at least a second."""
        self._failures += 1
        delay = max(1, round(RECONNECT_BACKOFF.delay(self._failures, self._rng)))
        client.reconnect_delay_set(delay, delay)

    # --- on the loop: state ---------------------------------------------------------------------

    def _connected(self, session_present: bool) -> None:
        self.state.connected(self._clock(), session_present=session_present)
        self._schedule.reset()  # announce ourselves at once
        self._online.set()
        self._changed.set()
        log.info("fleet link: connected to %s (%s)", self.settings.broker,
                 "session resumed" if session_present else "new session")  # fmt: skip

    def _subscribed(self, granted: bool, detail: str) -> None:
        self.state.subscription(granted, detail)
        if not granted:
            log.error("fleet link: %s: callbacks cannot reach this till (check the broker's ACL for user %s)",
                      self.state.last_error, self.settings.username)  # fmt: skip

    def _lost(self, reason: str) -> None:
        if self._stopping:
            return
        was = self.state.phase
        self._online.clear()
        self.state.disconnected(self._clock(), reason)
        if was is LinkPhase.CONNECTED or not self.state.connected_once:
            log.warning("fleet link: %s; retrying with backoff", reason)
        else:
            log.debug("fleet link: %s; retrying with backoff", reason)

    # --- on the loop: callbacks -------------------------------------------------------------------

    async def _work(self) -> None:
        """One message at a time, in order; held ones again when their time comes."""
        while True:
            due = self._retries.next_due()
            timeout = None if due is None else max(0.0, due - self._clock())
            try:
                received = await asyncio.wait_for(self._inbox.get(), timeout)
            except TimeoutError:
                received = None
            try:
                if received is not None:
                    await self._receive(received)
                for held in self._retries.take_due(self._clock()):
                    await self._try(held.message, held.handle, held)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one message stop the link
                log.exception("fleet link: handling a callback failed")
            self.state.retrying = len(self._retries)
            if self._inbox.empty():  # the flood, if any, is over
                self._drops.flush()
                self._refusals.flush()

    async def _receive(self, received: Received) -> None:
        self.state.received += 1
        try:
            message = open_message(self.settings.payload_key, self.settings.till.callback_topic, received.topic,
                                   received.payload)  # fmt: skip
        except FleetMessageError as exc:
            self._ack(received.handle)
            self.state.drop(exc.reason, acked=True)
            self._drops.warning("fleet link: dropped a message on %s: %s", received.topic[:120] or "?", exc)
            return
        if self._retries.redelivered(message.id, received.handle):
            return  # a copy of one waiting for its retry: it will be acknowledged through this handle
        await self._try(message, received.handle, None)

    async def _try(self, message: CallbackMessage, handle: Handle, held: Held[Handle] | None) -> None:
        attempt = asyncio.ensure_future(asyncio.to_thread(self._deliver_safely, message))
        self._attempt = attempt  # a stop waits for a commit under way (shielded from the cancel)
        verdict = await asyncio.shield(attempt)
        self._attempt = None
        now = self._clock()
        if verdict.outcome in (Outcome.QUEUED, Outcome.DUPLICATE):
            self.state.delivered(verdict.outcome, now, acked=self._ack(handle))
            log.info("fleet link: callback %s %s", message.id, "queued" if verdict.outcome is Outcome.QUEUED
                     else "was already queued (a redelivery)")  # fmt: skip
        elif verdict.outcome is Outcome.REFUSED:
            self.state.drop("refused", acked=self._ack(handle))
            self._refusals.warning("fleet link: callback %s refused: %s", message.id, verdict.reason)
        elif self._retries.hold(message, handle, verdict, now, self._rng, previous=held) is None:
            self.state.drop("failed", acked=self._ack(handle))
            log.error("fleet link: callback %s given up after repeated failures: %s", message.id, verdict.reason)
        elif held is None:
            log.warning("fleet link: callback %s %s", message.id, verdict.reason)

    def _deliver_safely(self, message: CallbackMessage) -> Verdict:
        try:
            return self._deliver(message)
        except Exception as exc:  # `deliver` should not raise; if it does, treat it as an unexpected failure
            return Verdict(Outcome.RETRY, f"not queued ({type(exc).__name__})", unexpected=True)

    def _ack(self, handle: Handle) -> bool:
        """Acknowledge on the connection the message came on; after a reconnect the broker sends it
        again and that copy is acknowledged instead (True: sent now)."""
        client = self._client
        if client is None or handle.generation != self._generation or self.state.phase is not LinkPhase.CONNECTED:
            return False
        if handle.qos == 0:
            return True  # nothing to acknowledge
        return client.ack(handle.mid, handle.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS

    # --- on the loop: status ----------------------------------------------------------------------

    def _publish_status_message(self, client: mqtt.Client, status: TillStatus) -> mqtt.MQTTMessageInfo:
        # Keyword arguments: an MQTT publish, not one of the ECR events (tests/agent/ecr/test_protocol_doc.py).
        return client.publish(topic=self.settings.till.status_topic, payload=encode_status(status), qos=1,
                              retain=True)  # fmt: skip

    async def _publish_status(self) -> None:
        while True:
            await self._online.wait()
            self._changed.clear()  # before reading: a change while we read wakes the next turn
            try:
                status = await self._status()
            except Exception as exc:  # the outbox unreadable: the heartbeat tries again
                log.warning("fleet link: the status could not be read (%s)", type(exc).__name__)
                await asyncio.sleep(self._schedule.heartbeat)
                continue
            with self._lock:
                self._last_status = status
            key = change_key(status)
            wait = self._schedule.wait(key, self._clock())
            if wait > 0 and self._schedule.changed(key):
                await asyncio.sleep(wait)  # a change, too soon after the last one: publish it then
                continue
            if wait <= 0 and self._online.is_set() and self._client is not None:
                self._publish_status_message(self._client, status)
                self._schedule.published(key, self._clock())
                wait = self._schedule.wait(key, self._clock())
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except TimeoutError:
                continue  # the heartbeat
            await asyncio.sleep(BURST_SECONDS)
