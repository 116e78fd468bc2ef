"""The till's status for headquarters (what it says, and never a secret), when it is republished, and
the link's own state as the status page, status.get and /metrics show it."""

from __future__ import annotations

import json

from agent.daemon.fleet_link.delivery import Outcome
from agent.daemon.fleet_link.state import LinkPhase, LinkState
from agent.daemon.fleet_link.status import (
    HEARTBEAT_SECONDS,
    StatusSchedule,
    change_key,
    offline,
    till_status,
)
from agent.fleet.messages import DeviceState, decode_status, encode_status
from agent.fleet.topics import TillRef

TILL = TillRef("acme", "SH01", "T1")
AGENT_STATUS = {
    "network": {"online": False, "since": 1.0, "gateway": "https://openapi.alipay.com/gateway.do"},
    "outbox": {"counts": {"card.authorize": {"pending": 2, "in_flight": 1, "done": 40},
                          "card.update": {"dead": 3, "pending": 1}}, "oldest_pending_age": 612.345},
    "devices": [{"device": "rtsp://admin:hunter2@192.168.1.64/stream", "kind": "camera", "state": "connected",
                 "detail": ""},
                {"device": "tcp://192.168.1.50:9100", "kind": "printer", "state": "paper_end", "detail": "paper out"}],
}  # fmt: skip


def test_the_status_sums_the_backlog_and_masks_what_could_be_secret() -> None:
    warning = "scan 286123456789012345 could not pay sale S1: declined; token=abcdef0123456789abcdef"
    status = till_status(TILL, AGENT_STATUS, version="1.2.3", at=100.0, last_error=warning)
    assert (status.online, status.alipay_online, status.version) == (True, False, "1.2.3")
    assert (status.outbox_pending, status.outbox_dead, status.oldest_pending_age) == (4, 3, 612.3)
    assert status.devices == (DeviceState("rtsp://admin:***@192.168.1.64/stream", "camera", "connected"),
                              DeviceState("tcp://192.168.1.50:9100", "printer", "paper_end"))  # fmt: skip
    text = encode_status(status).decode()
    assert "hunter2" not in text and "286123456789012345" not in text
    assert decode_status(TILL, encode_status(status)) == status


def test_offline_keeps_what_was_last_known() -> None:
    last = till_status(TILL, AGENT_STATUS, version="1.2.3", at=100.0, last_error=None)
    will = offline(last, TILL, reason="connection lost", at=200.0)
    assert (will.online, will.reason, will.at, will.outbox_pending) == (False, "connection lost", 200.0, 4)
    assert offline(None, TILL, reason="stopped", at=5.0).online is False


def test_a_change_is_published_at_most_every_interval_and_the_same_status_every_heartbeat() -> None:
    schedule = StatusSchedule(min_interval=5.0)
    first = till_status(TILL, AGENT_STATUS, version="1", at=0.0, last_error=None)
    key = change_key(first)
    assert schedule.wait(key, 0.0) == 0.0  # on connect: at once
    schedule.published(key, 0.0)
    older = till_status(TILL, {**AGENT_STATUS, "outbox": {**AGENT_STATUS["outbox"], "oldest_pending_age": 999.0}},
                        version="1", at=3.0, last_error=None)  # fmt: skip
    assert change_key(older) == key  # time passing is not a change (the heartbeat carries it)
    assert schedule.wait(key, 3.0) == HEARTBEAT_SECONDS - 3.0
    changed = change_key(till_status(TILL, {**AGENT_STATUS, "devices": []}, version="1", at=3.0, last_error=None))
    assert changed != key and schedule.wait(changed, 3.0) == 2.0 and schedule.wait(changed, 7.0) == 0.0
    assert change_key(till_status(TILL, AGENT_STATUS, version="1", at=3.0, last_error="new warning")) != key
    schedule.reset()  # a new connection
    assert schedule.wait(key, 4.0) == 0.0


def test_the_link_state_counts_and_explains() -> None:
    state = LinkState(broker="mqtts://hq:8883", client_id="posagent-acme-SH01-T1", topic=TILL.callback_topic)
    assert state.view()["state"] == "connecting"
    state.disconnected(10.0, "cannot connect to mqtts://till:secret@hq:8883: refused")
    assert state.phase is LinkPhase.DISCONNECTED and "secret" not in (state.last_error or "")
    state.connecting(11.0)  # retrying: the reason stays visible
    assert state.phase is LinkPhase.DISCONNECTED and state.since == 10.0
    state.connected(12.0, session_present=True)
    state.subscription(False, "Not authorized")
    assert not state.subscribed and "refused the subscription" in (state.last_error or "")
    state.subscription(True, "Granted QoS 1")
    state.received += 3
    state.delivered(Outcome.QUEUED, 13.0, acked=True)
    state.delivered(Outcome.DUPLICATE, 14.0, acked=True)
    state.drop("unsealed", acked=True)
    view = state.view()
    assert (view["state"], view["last_delivery"], view["acked"], view["dropped"]) == ("connected", 14.0, 3,
                                                                                      {"unsealed": 1})  # fmt: skip
    assert dict(state.outcomes) == {"queued": 1, "duplicate": 1, "dropped": 1}
    json.dumps(view)  # status.get sends it as it is
