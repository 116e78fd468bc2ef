"""A chain's callbacks reach the till through the broker: the real daemon with [fleet], a real Mosquitto,
a stand-in relay publishing sealed callbacks (as `relay/` does), and the simulated Alipay gateway.

Every callback is queued exactly once and opens its card once, whether the till was running, stopped,
or cut off from the broker while the customers finished the form (the broker keeps the till's
persistent session and its queue)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.alipay.apis import OAuthToken
from agent.fleet.messages import Authorization
from tests.support.broker import Broker
from tests.support.fleet import FleetTill, fleet_till
from tests.support.gateway import Store as GatewayStore
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def till(tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> Iterator[FleetTill]:
    with fleet_till(tmp_path, simulated_gateway, broker) as running:
        yield running


def opened_once_each(till: FleetTill, request_ids: list[str]) -> None:
    """One card per form submission, and no other card (out_serial_no is derived from the request_id)."""
    cards = till.wait_for_cards(len(request_ids))
    assert len(cards) == len(request_ids), cards
    assert len({c["out_serial_no"] for c in cards}) == len(request_ids)


def test_a_callback_from_headquarters_opens_the_card_once(till: FleetTill) -> None:
    params = till.enroll("E1")
    with till.daemon.ecr() as ecr:
        till.relay.send(till.till, params)
        opened = ecr.wait_for("member.opened", timeout=30)["body"]
        assert opened["job_id"] == "E1" and opened["card_no"].startswith("LOTUS")
        fleet = ecr.request("status.get")["fleet"]
        assert fleet["state"] == "connected" and fleet["subscribed"] is True and fleet["last_delivery"] is not None
    # The relay sends it again (a customer's reload, a relay retry): absorbed, no second card.
    till.relay.send(till.till, params)
    deadline = time.monotonic() + 20
    while till.metrics().get('posagent_fleet_messages_settled_total{outcome="duplicate"}', 0) < 1:
        assert time.monotonic() < deadline, till.metrics()
        time.sleep(0.1)
    assert len(till.cards()) == 1 and till.calls("alipay.marketing.card.open") == 1
    samples = till.metrics()
    assert samples["posagent_fleet_connected"] == 1
    assert samples["posagent_fleet_messages_received_total"] == 2 == samples["posagent_fleet_messages_acked_total"]


def test_in_exchange_mode_the_till_opens_the_card_with_the_relays_token(till: FleetTill) -> None:
    params = till.enroll("E2")

    async def exchange() -> Authorization:  # what the relay's exchange mode does at once
        async with till.gateway.client() as client:
            token = await client.execute(OAuthToken(code=params["auth_code"]))
        return Authorization(token.access_token, token.user_id or "", token.expires_in or 86400, time.time())

    authorization = asyncio.run(exchange())
    with till.daemon.ecr() as ecr:
        till.relay.send(till.till, params, authorization=authorization)
        assert ecr.wait_for("member.opened", timeout=30)["body"]["job_id"] == "E2"
    till.relay.send(till.till, params, authorization=authorization)  # a redelivery: the same job, no second card
    opened_once_each(till, [params["request_id"]])
    assert till.calls("alipay.system.oauth.token") == 1  # the relay's: the till never exchanged the code


def test_callbacks_sent_while_the_till_is_stopped_are_all_delivered_when_it_is_back(till: FleetTill) -> None:
    callbacks = [till.enroll(f"S{i}", mobile=f"1390000{i:04d}") for i in range(4)]
    assert till.daemon.stop() == 0
    for params in callbacks:
        till.relay.send(till.till, params)  # the broker accepted each (PUBACK): the customer saw "being opened"
    till.daemon.start()
    opened_once_each(till, [p["request_id"] for p in callbacks])


def test_callbacks_sent_while_the_tills_line_is_dead_are_all_delivered_when_it_is_back(
        tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> None:  # fmt: skip
    with TcpProxy(("127.0.0.1", broker.port)) as line, \
            fleet_till(tmp_path, simulated_gateway, broker, broker_url=f"mqtts://127.0.0.1:{line.port}") as till:  # fmt: skip
        callbacks = [till.enroll(f"N{i}", mobile=f"1380000{i:04d}") for i in range(4)]
        line.freeze()  # no reset, no FIN: the till and the broker find out by their keep-alives
        for params in callbacks:
            till.relay.send(till.till, params)
        time.sleep(8)  # past 1.5 x keepalive: the broker has given the till up (its will says offline)
        line.thaw()
        opened_once_each(till, [p["request_id"] for p in callbacks])


def test_a_till_starts_without_its_broker_and_links_up_when_the_broker_is_back(till: FleetTill,
                                                                               broker: Broker) -> None:  # fmt: skip
    params = till.enroll("B1")
    assert till.daemon.stop() == 0
    broker.stop()
    till.daemon.start()  # outbound only: the till serves the ECR whatever the broker does
    with till.daemon.ecr() as ecr:
        fleet = ecr.request("status.get")["fleet"]
        assert fleet["state"] in ("connecting", "disconnected") and fleet["subscribed"] is False
    broker.launch()
    till.relay.reconnect()
    till.relay.send(till.till, params)
    opened_once_each(till, [params["request_id"]])
    with till.daemon.ecr() as ecr:
        assert ecr.request("status.get")["fleet"]["state"] == "connected"
