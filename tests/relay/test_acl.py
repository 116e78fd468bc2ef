"""The broker's ACL as `posagent fleet provision` writes it, enforced by a real Mosquitto: a till reads only its
own callbacks and writes only its own status; the relay writes callbacks and reads statuses, nothing else; a
viewer only reads statuses. Each attempt is made for real, and the test checks that nothing crossed."""

from __future__ import annotations

import pytest

from tests.support.broker import Broker

from .conftest import CHAIN, Chain, connect, mqtt_client, publish, subscribe, wait_for

NOT_AUTHORIZED = 135

pytestmark = pytest.mark.timeout(120)


def collecting(chain: Chain, broker: Broker, username: str, password: str, topic: str) -> tuple[object, list[str]]:
    """A connected client subscribed to `topic`, and the list of topics of what it receives."""
    received: list[str] = []
    client = mqtt_client(broker, username, password)
    client.on_message = lambda c, u, m: received.append(m.topic)
    connect(client, broker)
    subscribe(client, topic)
    return client, received


def test_a_till_can_neither_read_nor_write_another_tills_topics(chain: Chain, broker: Broker) -> None:
    t1, t2 = chain.till("S1", "T1"), chain.till("S1", "T2")
    thief = mqtt_client(broker, t1.ref.name, t1.password)
    stolen: list[str] = []
    thief.on_message = lambda c, u, m: stolen.append(m.topic)
    assert not connect(thief, broker).is_failure
    # Mosquitto grants any subscription and applies the ACL to each message: try the other till's callbacks,
    # every callback of the store, everything of the chain, everything.
    for topic in (t2.ref.callback_topic, f"posagent/{CHAIN}/S1/+/callback", f"posagent/{CHAIN}/#", "#"):
        subscribe(thief, topic)
    with chain.listen(t2) as inbox_t2:
        relay, statuses = collecting(chain, broker, "relay", chain.relay_password, f"posagent/{CHAIN}/+/+/status")
        # Publishing as the relay (a callback for T2, or for itself) or as T2 (its status) is refused.
        for topic in (t2.ref.callback_topic, t1.ref.callback_topic, t2.ref.status_topic,
                      f"posagent/{CHAIN}/S1/T3/status", "posagent/other/S1/T1/callback"):  # fmt: skip
            assert publish(thief, topic, b"forged") == NOT_AUTHORIZED, topic
        # Its own status it may write (and the relay reads it).
        assert publish(thief, t1.ref.status_topic, b"{}") == 0
        wait_for(lambda: t1.ref.status_topic in statuses)
        # What the relay publishes for T2 reaches T2, not T1; then one for T1, which T1 does get: the broker
        # delivers one publisher's messages to a subscriber in order, so T1 saw everything it would have.
        assert publish(relay, t2.ref.callback_topic, b"sealed for T2") == 0  # type: ignore[arg-type]
        assert publish(relay, t1.ref.callback_topic, b"sealed for T1") == 0  # type: ignore[arg-type]
        wait_for(lambda: inbox_t2.count() == 1 and t1.ref.callback_topic in stolen)
        assert inbox_t2.messages == [(t2.ref.callback_topic, b"sealed for T2")]
        assert t2.ref.callback_topic not in stolen and t2.ref.status_topic not in stolen
        assert set(stolen) <= {t1.ref.callback_topic, t1.ref.status_topic}  # its own topics only
        assert statuses == [t1.ref.status_topic]  # no forged status got through
        relay.disconnect()  # type: ignore[attr-defined]
    thief.disconnect()


def test_the_relay_publishes_only_callbacks_and_a_viewer_only_reads_statuses(chain: Chain, broker: Broker) -> None:
    till = chain.till("S1", "T1")
    viewer_password = chain.service("viewer", "viewer")
    relay = mqtt_client(broker, "relay", chain.relay_password)
    viewer = mqtt_client(broker, "viewer", viewer_password)
    connect(relay, broker)
    connect(viewer, broker)
    read: dict[str, list[str]] = {"relay": [], "viewer": []}
    relay.on_message = lambda c, u, m: read["relay"].append(m.topic)
    viewer.on_message = lambda c, u, m: read["viewer"].append(m.topic)
    # Neither may read callbacks: both try; the viewer's status subscription is its sentinel.
    subscribe(relay, till.ref.callback_topic)
    subscribe(viewer, f"posagent/{CHAIN}/#")
    # The relay cannot forge a till's status; the viewer can write nothing at all.
    assert publish(relay, till.ref.status_topic, b"{}") == NOT_AUTHORIZED
    assert publish(viewer, till.ref.callback_topic, b"x") == NOT_AUTHORIZED
    assert publish(viewer, till.ref.status_topic, b"{}") == NOT_AUTHORIZED
    with chain.listen(till) as inbox:
        assert publish(relay, till.ref.callback_topic, b"sealed") == 0
        wait_for(lambda: inbox.count() == 1)
    till_client = mqtt_client(broker, till.ref.name, till.password)
    connect(till_client, broker)
    assert publish(till_client, till.ref.status_topic, b"{}") == 0
    wait_for(lambda: read["viewer"] == [till.ref.status_topic])
    assert read["relay"] == []
    for client in (relay, viewer, till_client):
        client.disconnect()


def test_a_wrong_password_or_an_unknown_user_is_refused(chain: Chain, broker: Broker) -> None:
    till = chain.till("S1", "T1")
    assert connect(mqtt_client(broker, till.ref.name, "not-the-password"), broker).is_failure
    assert connect(mqtt_client(broker, "S9-T9", till.password), broker).is_failure
