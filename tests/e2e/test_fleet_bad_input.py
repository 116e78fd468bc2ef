"""Bad input on the till's callback topic (malformed, oversized, unsealed, sealed under another key,
moved from another till's topic, a callback the member service refuses, a flood): each is logged and
dropped (acknowledged, so the broker forgets it), the daemon never crashes, and a good callback after
them still opens its card."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.fleet.messages import MAX_CALLBACK_BYTES
from agent.fleet.topics import TillRef
from tests.support.broker import Broker
from tests.support.fleet import CHAIN, FleetTill, StandInRelay, fleet_till, provision_till
from tests.support.gateway import Store as GatewayStore

FLOOD = 200


@pytest.fixture
def till(tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> Iterator[FleetTill]:
    with fleet_till(tmp_path, simulated_gateway, broker) as running:
        yield running


def test_bad_messages_are_dropped_and_never_block_the_next_callback(till: FleetTill, broker: Broker,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    good = till.enroll("G1")
    other = provision_till(broker, TillRef(CHAIN, "SH02", "T1"), tmp_path / "other-till")
    relay = StandInRelay(broker, {till.till: till.account, other.till: other})
    topic = till.till.callback_topic
    try:
        _, sealed = relay.seal(till.till, good)
        _, for_the_other_till = relay.seal(other.till, good, topic=other.till.callback_topic)
        _, under_the_other_key = relay.seal(other.till, good, topic=topic)
        _, unknown_enrollment = relay.seal(till.till, {**good, "out_string": good["out_string"].replace(".G1.", ".G9.")})
        _, foreign_params = relay.seal(till.till, {**good, "evil": "1"})
        _, wrong_template = relay.seal(till.till, {**good, "template_id": "1" * 20})
        bad = [
            (b"\x01" + os.urandom(MAX_CALLBACK_BYTES + 100), "oversized"),
            (json.dumps({"v": 1, "id": "x", "params": good}).encode(), "unsealed"),  # the auth_code in clear
            (b"", "unsealed"), (b"\x02garbage", "unsealed"),
            (sealed[:-3], "unopened"), (for_the_other_till, "unopened"), (under_the_other_key, "unopened"),
            (unknown_enrollment, "refused"), (foreign_params, "refused"), (wrong_template, "refused"),
        ]  # fmt: skip
        for payload, _ in bad:
            relay.publish(topic, payload)
        for i in range(FLOOD):
            relay.publish(topic, os.urandom(64) if i % 2 else b"\x01" + os.urandom(64))
        with till.daemon.ecr() as ecr:
            relay.send(till.till, good)
            assert ecr.wait_for("member.opened", timeout=60)["body"]["job_id"] == "G1"
    finally:
        relay.close()
    expected = len(bad) + FLOOD + 1
    deadline = time.monotonic() + 30
    while (samples := till.metrics())["posagent_fleet_messages_acked_total"] < expected:
        assert time.monotonic() < deadline, samples
        time.sleep(0.2)
    dropped = {reason: samples[f'posagent_fleet_messages_dropped_total{{reason="{reason}"}}']
               for reason in ("oversized", "unsealed", "unopened", "refused")}  # fmt: skip
    by_reason = {reason: sum(1 for _, r in bad if r == reason) for reason in dropped}
    # The flood: half random bytes (unsealed unless the first byte happens to be 1), half "sealed" garbage.
    assert dropped["oversized"] == by_reason["oversized"] and dropped["refused"] == by_reason["refused"]
    assert dropped["unsealed"] + dropped["unopened"] == by_reason["unsealed"] + by_reason["unopened"] + FLOOD
    assert samples['posagent_fleet_messages_settled_total{outcome="queued"}'] == 1
    assert len(till.cards()) == 1
    log = till.daemon.log.read_text()
    assert "Traceback" not in log
    assert good["auth_code"] not in log and till.account.password not in log
    assert "dropped a message" in log and log.count("refused: ") == by_reason["refused"]
    assert "more messages dropped (not sealed for this till), not logged one by one" in log  # the flood, summed up
    assert till.daemon.process is not None and till.daemon.process.poll() is None  # still running
