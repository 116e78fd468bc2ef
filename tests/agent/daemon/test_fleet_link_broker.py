"""The fleet link against a real Mosquitto (TLS, passwords, ACL): a callback is handed to the member
service and acknowledged only once it is settled; what is not acknowledged comes back; bad messages
are dropped without holding up good ones; the retained status says online, "stopped" and, as the
last will, "connection lost". The member service is a stand-in here (tests/e2e runs the real one)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.daemon.fleet_link import FleetLink, LinkPhase, LinkSettings, Outcome, Verdict
from agent.fleet.broker_url import parse_broker_url
from agent.fleet.messages import MAX_CALLBACK_BYTES, CallbackMessage, DeviceState, TillStatus
from agent.fleet.topics import TillRef
from offline_queue import Backoff
from tests.support.broker import Broker, make_tls_files
from tests.support.fleet import (
    CHAIN,
    StandInRelay,
    StatusWatcher,
    TillAccount,
    provision_headquarters,
    provision_till,
)

T1 = TillRef(CHAIN, "S1", "T1")
T2 = TillRef(CHAIN, "S1", "T2")
PARAMS = {"auth_code": "a" * 32, "template_id": "20240101000000000001", "request_id": "2" * 29,
          "out_string": "v1.S1.T1.E1.AAAAAAAAAAAAAAAAAAAAAA"}  # fmt: skip


class Member:
    """The member service as the link sees it: records each delivery; answers what the test says."""

    def __init__(self) -> None:
        self.calls: list[CallbackMessage] = []
        self.answer: Callable[[CallbackMessage], Verdict] = lambda m: Verdict(Outcome.QUEUED, "queued")
        self.changed = threading.Condition()

    def deliver(self, message: CallbackMessage) -> Verdict:
        verdict = self.answer(message)
        with self.changed:
            self.calls.append(message)
            self.changed.notify_all()
        return verdict

    def ids(self) -> list[str]:
        with self.changed:
            return [m.id for m in self.calls]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[str]:
        def reached() -> bool:
            with self.changed:
                return len(self.calls) >= count

        for _ in range(int(timeout / 0.02)):
            if reached():
                return self.ids()
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} deliveries expected, got {self.ids()}")


QUICK_RETRIES = Backoff(base=0.05, factor=2.0, cap=0.5)
STATUS = TillStatus(till=T1, online=True, at=0.0, version="test", alipay_online=True, outbox_pending=2,
                    devices=(DeviceState("printer", "printer", "ready"),))  # fmt: skip


def settings(mosquitto: Broker, account: TillAccount, **changes: object) -> LinkSettings:
    base = LinkSettings(till=account.till, broker=parse_broker_url(mosquitto.mqtt_url), username=account.username,
                        password=account.password, client_id=f"posagent-{account.till.chain}-{account.till.name}",
                        ca_file=mosquitto.ca_file, session_expiry_seconds=3600, keepalive_seconds=5,
                        status_interval_seconds=0.2, payload_key=account.payload_key)  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def account(broker: Broker, tmp_path: Path) -> TillAccount:
    provision_headquarters(broker)
    return provision_till(broker, T1, tmp_path / "till")


@pytest.fixture
def relay(broker: Broker, account: TillAccount, tmp_path: Path) -> Iterator[StandInRelay]:
    other = provision_till(broker, T2, tmp_path / "till2")
    stand_in = StandInRelay(broker, {T1: account, T2: other})
    yield stand_in
    stand_in.close()


@pytest.fixture
def watcher(broker: Broker) -> Iterator[StatusWatcher]:
    watching = StatusWatcher(broker)
    yield watching
    watching.close()


class Links:
    """Starts links (one at a time, like the till's daemon) and stops them at the end whatever happens."""

    def __init__(self, broker: Broker, account: TillAccount, member: Member) -> None:
        self.broker, self.account, self.member = broker, account, member
        self.running: list[FleetLink] = []
        self.current = STATUS

    async def status(self) -> TillStatus:
        return self.current

    async def start(self, **changes: object) -> FleetLink:
        link = FleetLink(settings(self.broker, self.account, **changes), deliver=self.member.deliver,
                         status=self.status, retry_backoff=QUICK_RETRIES)  # fmt: skip
        await link.start()
        self.running.append(link)
        return link

    async def connected(self, **changes: object) -> FleetLink:
        link = await self.start(**changes)
        await until(lambda: link.state.phase is LinkPhase.CONNECTED and link.state.subscribed)
        return link

    async def stop(self, link: FleetLink) -> None:
        self.running.remove(link)
        await link.stop()

    async def abandon(self, link: FleetLink) -> None:
        """As if the process died: the connection drops without a DISCONNECT, nothing more is acknowledged."""
        self.running.remove(link)
        for task in link._tasks:
            task.cancel()
        client = link._client
        assert client is not None
        sock = client.socket()
        client._thread_terminate = True  # the network thread ends without a word to the broker
        if sock is not None:
            sock.close()
        await asyncio.to_thread(client.loop_stop)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


@pytest.fixture
async def links(broker: Broker, account: TillAccount) -> AsyncIterator[Links]:
    running = Links(broker, account, Member())
    yield running
    for link in list(running.running):
        await running.stop(link)


# --- delivery ---------------------------------------------------------------------------------------


async def test_a_callback_is_delivered_once_and_not_again_after_a_restart(links: Links, relay: StandInRelay) -> None:
    link = await links.connected()
    first = await asyncio.to_thread(relay.send, T1, PARAMS)
    assert await links.member.wait_for(1) == [first]
    assert links.member.calls[0].params == PARAMS
    await until(lambda: link.state.acked == 1)
    assert link.state.view()["last_delivery"] is not None
    await links.stop(link)
    # Acknowledged: the broker does not send it again. The next message proves it (a redelivery comes first).
    second = await asyncio.to_thread(relay.send, T1, {**PARAMS, "request_id": "3" * 29})
    await links.connected()
    assert await links.member.wait_for(2) == [first, second]


async def test_callbacks_sent_while_the_till_is_away_wait_in_its_session(links: Links, relay: StandInRelay) -> None:
    link = await links.connected()
    await links.stop(link)
    sent = [await asyncio.to_thread(relay.send, T1, {**PARAMS, "request_id": f"{i:029d}"}) for i in range(5)]
    link = await links.connected()
    assert await links.member.wait_for(5) == sent
    assert link.state.session_present is True


async def test_a_callback_not_yet_settled_when_the_till_dies_comes_back(links: Links, relay: StandInRelay) -> None:
    gate = threading.Event()

    def slow_commit(message: CallbackMessage) -> Verdict:
        gate.wait(10)
        return Verdict(Outcome.QUEUED, "queued")

    links.member.answer = slow_commit
    link = await links.connected()
    sent = await asyncio.to_thread(relay.send, T1, PARAMS)
    await until(lambda: link.state.received == 1)
    await links.abandon(link)  # received, not acknowledged
    gate.set()
    links.member.answer = lambda m: Verdict(Outcome.DUPLICATE, "already queued")  # the outbox has it now
    link = await links.connected()
    assert await links.member.wait_for(2) == [sent, sent]
    await until(lambda: link.state.acked == 1)
    assert link.state.outcomes["duplicate"] == 1
    await links.stop(link)
    marker = await asyncio.to_thread(relay.send, T1, {**PARAMS, "request_id": "9" * 29})
    await links.connected()
    assert await links.member.wait_for(3) == [sent, sent, marker]  # the duplicate was acknowledged: not a 4th


async def test_a_transient_failure_is_retried_without_holding_up_the_next_callback(links: Links,
                                                                                   relay: StandInRelay) -> None:  # fmt: skip
    tries: dict[str, int] = {}
    queued: list[str] = []

    def outbox_full_at_first(message: CallbackMessage) -> Verdict:
        tries[message.id] = tries.get(message.id, 0) + 1
        if message.params["request_id"] == "1" * 29 and not queued:
            return Verdict(Outcome.RETRY, "not queued yet (outbox full); retrying")
        queued.append(message.id)
        return Verdict(Outcome.QUEUED, "queued")

    links.member.answer = outbox_full_at_first
    link = await links.connected()
    stuck = await asyncio.to_thread(relay.send, T1, {**PARAMS, "request_id": "1" * 29})
    await until(lambda: link.state.retrying == 1)
    behind = await asyncio.to_thread(relay.send, T1, {**PARAMS, "request_id": "2" * 29})
    await until(lambda: queued == [behind, stuck], timeout=30)  # the second went by; the first, once possible
    assert tries[stuck] >= 2 and tries[behind] == 1
    await until(lambda: link.state.acked == 2)
    assert link.state.retrying == 0


async def test_a_callback_failing_unexpectedly_is_given_up_in_the_end(links: Links, relay: StandInRelay) -> None:
    def bug(message: CallbackMessage) -> Verdict:
        raise KeyError("a bug")

    links.member.answer = bug
    link = await links.connected()
    await asyncio.to_thread(relay.send, T1, PARAMS)
    await until(lambda: link.state.dropped["failed"] == 1)  # bounded attempts with backoff
    assert link.state.acked == 1 and link.state.retrying == 0


# --- bad input ----------------------------------------------------------------------------------------


async def test_bad_messages_are_dropped_and_the_next_good_one_is_delivered(links: Links,
                                                                           relay: StandInRelay) -> None:  # fmt: skip
    link = await links.connected()
    topic = T1.callback_topic
    _, for_t2_moved_here = relay.seal(T2, PARAMS, topic=T2.callback_topic)
    _, sealed_under_t2_key = relay.seal(T2, PARAMS, topic=topic)
    _, good_sealed = relay.seal(T1, PARAMS)
    bad = {
        "oversized": b"\x01" + os.urandom(MAX_CALLBACK_BYTES + 10),
        "unsealed": json.dumps({"v": 1, "id": "x", "params": PARAMS}).encode(),
        "empty": b"",
        "garbage": b"\x02" + os.urandom(200),
        "moved from another till's topic": for_t2_moved_here,
        "sealed under another till's key": sealed_under_t2_key,
        "truncated": good_sealed[:-5],
    }
    for payload in bad.values():
        await asyncio.to_thread(relay.publish, topic, payload)
    good = await asyncio.to_thread(relay.send, T1, PARAMS)
    assert await links.member.wait_for(1) == [good]  # nothing bad reached the member service
    await until(lambda: link.state.acked == len(bad) + 1)
    assert link.state.dropped == {"oversized": 1, "unsealed": 3, "unopened": 3}
    await links.stop(link)
    marker = await asyncio.to_thread(relay.send, T1, {**PARAMS, "request_id": "8" * 29})
    await links.connected()
    assert await links.member.wait_for(2) == [good, marker]  # the bad ones were acknowledged: never again


async def test_a_refused_callback_is_acknowledged_and_dropped(links: Links, relay: StandInRelay) -> None:
    links.member.answer = lambda m: Verdict(Outcome.REFUSED, "out_string names no enrollment of this till")
    link = await links.connected()
    await asyncio.to_thread(relay.send, T1, PARAMS)
    await until(lambda: link.state.dropped["refused"] == 1)
    assert link.state.acked == 1


# --- connection ---------------------------------------------------------------------------------------


async def test_over_websockets_on_the_tls_port(links: Links, relay: StandInRelay, broker: Broker) -> None:
    link = await links.connected(broker=parse_broker_url(broker.ws_url))
    sent = await asyncio.to_thread(relay.send, T1, PARAMS)
    assert await links.member.wait_for(1) == [sent]
    assert link.state.view()["broker"] == f"wss://127.0.0.1:{broker.ws_port}/mqtt"


async def test_a_wrong_password_is_said_plainly_and_retried(links: Links) -> None:
    link = await links.start(password="not-the-password")
    await until(lambda: link.state.phase is LinkPhase.DISCONNECTED and link.state.last_error is not None)
    assert "refused this till's credentials" in (link.state.last_error or "")
    assert "not-the-password" not in json.dumps(link.state.view())


async def test_a_broker_certificate_from_another_ca_is_refused(links: Links, tmp_path: Path) -> None:
    other_ca, _, _ = make_tls_files(tmp_path / "other-ca")
    link = await links.start(ca_file=other_ca)
    await until(lambda: link.state.last_error is not None)
    assert "does not verify" in (link.state.last_error or "")
    assert link.state.phase is LinkPhase.DISCONNECTED


# --- status -------------------------------------------------------------------------------------------


async def test_the_status_is_retained_online_then_stopped(links: Links, watcher: StatusWatcher) -> None:
    link = await links.connected()
    online = await asyncio.to_thread(watcher.wait_for, T1, lambda s: s.online)
    assert (online.outbox_pending, online.alipay_online, online.devices) == (2, True, STATUS.devices)
    await links.stop(link)
    stopped = await asyncio.to_thread(watcher.wait_for, T1, lambda s: not s.online)
    assert stopped.reason == "stopped" and stopped.outbox_pending == 2  # the last known state, kept
    late = StatusWatcher(links.broker)  # a fleet view that starts now still sees it: retained
    try:
        assert (await asyncio.to_thread(late.wait_for, T1, lambda s: True)).reason == "stopped"
    finally:
        late.close()


async def test_the_last_will_says_connection_lost(links: Links, watcher: StatusWatcher) -> None:
    link = await links.connected()
    await asyncio.to_thread(watcher.wait_for, T1, lambda s: s.online)
    await links.abandon(link)
    lost = await asyncio.to_thread(watcher.wait_for, T1, lambda s: not s.online)
    assert lost.reason == "connection lost" and lost.outbox_pending == 2


async def test_a_change_is_published_and_the_password_never_is(links: Links, watcher: StatusWatcher,
                                                               account: TillAccount) -> None:  # fmt: skip
    link = await links.start()
    await asyncio.to_thread(watcher.wait_for, T1, lambda s: s.online and s.outbox_pending == 2)
    links.current = replace(STATUS, outbox_pending=7, last_error="printer: paper out")
    link.notify_change()
    changed = await asyncio.to_thread(watcher.wait_for, T1, lambda s: s.outbox_pending == 7)
    assert changed.last_error == "printer: paper out"
    for payload in watcher.payloads(T1):
        assert account.password.encode() not in payload and account.payload_key not in payload


def test_the_settings_repr_hides_the_secrets() -> None:
    password, key = "pw-" + secrets.token_hex(8), os.urandom(32)
    text = repr(LinkSettings(T1, parse_broker_url("mqtts://hq.example.com"), "S1-T1", password, "c", None, 60, 60,
                             5.0, key))  # fmt: skip
    assert password not in text and key.hex() not in text and repr(key) not in text
