"""A chain of two stores with two tills each, built as headquarters builds it: `posagent fleet provision`
writes every account, a real Mosquitto serves them, `posagent relay run` is the chain's one callback
address, and four real agents (`posagent run` with `[fleet]`) link up through the broker.

Customers enroll at each till, open the card in "Alipay" (the simulated customer, who follows the
callback to the relay as a phone would), and each card opens at the till that printed the slip, once,
and nowhere else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.fleet.topics import TillRef
from hardware_sim.customer import open_card
from tests.support.broker import Broker
from tests.support.chain import ChainTill, provision_chain, relay_config, running_tills, wait_linked
from tests.support.daemon import card_template
from tests.support.gateway import Store as GatewayStore
from tests.support.relay_process import RelayProcess

pytestmark = pytest.mark.timeout(240)

TILLS = [TillRef("acme", store, till) for store in ("S1", "S2") for till in ("T1", "T2")]


@dataclass
class Chain:
    relay: RelayProcess
    tills: dict[TillRef, ChainTill]
    gateway: GatewayStore


@pytest.fixture
def chain(tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> Iterator[Chain]:
    hq = tmp_path / "hq"
    provision_chain(hq, broker, TILLS)
    template_id = card_template(simulated_gateway)
    relay = RelayProcess(relay_config(hq, template_id))
    try:
        with running_tills(tmp_path, hq, TILLS, gateway=simulated_gateway, template_id=template_id,
                           relay_url=relay.url) as tills:  # fmt: skip
            yield Chain(relay, tills, simulated_gateway)
    finally:
        relay.stop()


def test_each_customer_s_card_opens_at_the_till_that_printed_the_slip_and_nowhere_else(chain: Chain) -> None:
    ecrs = {ref: till.daemon.ecr() for ref, till in chain.tills.items()}
    try:
        for ecr in ecrs.values():
            wait_linked(ecr)
        jobs = {ref: f"E-{ref.store}-{ref.till}" for ref in chain.tills}
        for n, (ref, job_id) in enumerate(jobs.items()):
            ecrs[ref].request("member.enroll", {"job_id": job_id})
            # The customer scans the slip in "Alipay", fills the form, and Alipay sends the browser to the
            # chain's one callback address: the relay, which answers once the broker has the callback.
            result = open_card(chain.tills[ref].slip_url(job_id), mobile=f"1390000{n:04d}", name="李雷")
            assert result.callback_status == 200, result.callback_body
            assert "being opened" in result.callback_body
        for ref, ecr in ecrs.items():
            opened = ecr.wait_for("member.opened", timeout=60)["body"]
            assert opened["job_id"] == jobs[ref], (ref, opened)
        time.sleep(1)  # time enough for a misrouted callback to show up anywhere else
        for ref, ecr in ecrs.items():
            ecr.request("status.get")  # whatever arrived since is collected in ecr.events
            others = [e for e in ecr.events if e.get("event") == "member.opened"]
            assert others == [], (ref, others)
    finally:
        for ecr in ecrs.values():
            ecr.close()
    cards = chain.gateway.gateway.inspect()["cards"]
    assert len(cards) == len(TILLS)  # one card per customer, none twice
    assert chain.relay.metric("posagent_relay_callbacks_published_total") == len(TILLS)
