"""The till's retained status, as headquarters' fleet view sees it: online with its devices, outbox and
Alipay state, republished on a change; offline "connection lost" (the last will) when the daemon is
killed -9; offline "stopped" after a graceful stop; never a secret or a payment code in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.daemon import TOKEN
from tests.support.fleet import FleetTill, StatusWatcher, fleet_till
from tests.support.gateway import Store as GatewayStore

PAYMENT_CODE = "286123456789012345"


@pytest.fixture
def till(tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> Iterator[FleetTill]:
    with fleet_till(tmp_path, simulated_gateway, broker) as running:
        yield running


@pytest.fixture
def fleet_view(broker: Broker) -> Iterator[StatusWatcher]:
    watcher = StatusWatcher(broker)
    yield watcher
    watcher.close()


def test_online_then_a_change_then_the_last_will_then_stopped(till: FleetTill, fleet_view: StatusWatcher) -> None:
    t = till.till
    online = fleet_view.wait_for(t, lambda s: s.online and s.alipay_online is not None)
    assert online.version and online.reason is None
    assert [(d.kind, d.state) for d in online.devices] == [("printer", "ready")]
    till.printer.set_state(paper="end")  # a change: published within status_interval_seconds
    fleet_view.wait_for(t, lambda s: any(d.state == "paper_end" for d in s.devices))
    till.printer.set_state(paper="ok")
    fleet_view.wait_for(t, lambda s: [d.state for d in s.devices] == ["ready"])
    params = till.enroll("ST1")
    with till.daemon.ecr() as ecr:  # a sale with a payment code the ECR read itself (must never be published)
        ecr.request("sale.start", {"sale_id": "SALE1", "amount": "1.00", "subject": "test", "code": PAYMENT_CODE})
    till.gateway.gateway.outage(60)  # the card cannot open: a backlog shows
    till.relay.send(t, params)
    backlog = fleet_view.wait_for(t, lambda s: s.outbox_pending >= 1)
    assert backlog.online
    till.daemon.kill()
    lost = fleet_view.wait_for(t, lambda s: not s.online)
    assert lost.reason == "connection lost"
    till.gateway.gateway.set_faults({})
    till.daemon.start()
    fleet_view.wait_for(t, lambda s: s.online)
    assert till.daemon.stop() == 0
    stopped = fleet_view.wait_for(t, lambda s: not s.online)
    assert stopped.reason == "stopped"
    secrets = [till.account.password, TOKEN, params["auth_code"], PAYMENT_CODE, till.account.key_file.read_text().strip()]
    payloads = list(fleet_view.payloads(t))
    assert len(payloads) >= 5
    for payload in payloads:
        text = payload.decode()
        assert not [s for s in secrets if s in text], text
        assert till.account.payload_key not in payload
