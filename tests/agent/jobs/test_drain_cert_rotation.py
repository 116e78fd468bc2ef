"""Alipay rotates its certificate while the outbox drains (certificate mode): every job still ends done,
the new certificate is downloaded once, checked against the root and kept; a forged one stops nothing
but the calls it signed, which stay pending (unknown outcome) instead of failing or succeeding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from agent.alipay import AlipayClient
from agent.alipay.cert_store import AlipayCertStore
from agent.jobs import loyalty
from agent.jobs.loyalty import LoyaltyUpdate
from offline_queue import Backoff, Dispatcher, KindPolicy, Outbox, State, create_key_file
from tests.agent.alipay.test_client_certs import GATEWAY, CertGateway, cert_setup
from tests.support.certs import Pki, new_pki, rsa_key

JOBS = 24
ROTATE_AFTER = 6


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


def outbox_with_updates(tmp_path: Path) -> Outbox:
    key = tmp_path / "outbox.key"
    create_key_file(key)
    outbox = Outbox.open(tmp_path / "agent.db", key_file=key,
                         policies={loyalty.KIND: KindPolicy(absolute=True, backoff=Backoff(0.05, 2.0, 0.2))})  # fmt: skip
    for i in range(JOBS):
        loyalty.enqueue(outbox, LoyaltyUpdate(update_id=f"u{i}", card_no=f"VIP{i:010d}",
                                              occur_time="2026-11-25 09:00:00", point=str(i)))  # fmt: skip
    return outbox


def rotating(gateway: CertGateway, new_key: object, new_cert: bytes) -> httpx.MockTransport:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        if b"card.update" in request.url.query:
            calls += 1
            if calls == ROTATE_AFTER:
                gateway.rotate(new_key, new_cert)  # type: ignore[arg-type]
        return gateway.handler(request)

    return httpx.MockTransport(handler)


async def test_a_rotation_mid_drain_costs_one_download_and_no_job(tmp_path: Path, pki: Pki) -> None:
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    transport = rotating(setup.gateway, new_key, pki.alipay_cert(new_key))
    outbox = outbox_with_updates(tmp_path)
    store = AlipayCertStore(tmp_path / "alipay_certs")
    async with AlipayClient(setup.credentials, GATEWAY, transport=transport, cert_sink=store.save) as client:
        dispatcher = Dispatcher(outbox, {loyalty.KIND: loyalty.handler(client)}, concurrency=4)
        await asyncio.wait_for(dispatcher.run_until_idle(), timeout=60)
    assert {job.state for job in outbox.list(limit=1000)} == {State.DONE}
    assert len(setup.gateway.downloads()) == 1
    assert len(store.load()) == 1
    outbox.close()


async def test_a_forged_rotation_mid_drain_leaves_the_rest_pending_never_done(tmp_path: Path, pki: Pki) -> None:
    setup = cert_setup(pki)
    forger = rsa_key("forger")
    transport = rotating(setup.gateway, forger, new_pki("attacker").alipay_cert(forger))
    outbox = outbox_with_updates(tmp_path)
    async with AlipayClient(setup.credentials, GATEWAY, transport=transport) as client:
        dispatcher = Dispatcher(outbox, {loyalty.KIND: loyalty.handler(client)}, concurrency=1)
        await asyncio.wait_for(dispatcher.run_until_idle(), timeout=60)
    states = [job.state for job in outbox.list(limit=1000)]
    assert states.count(State.DONE) == ROTATE_AFTER - 1  # those verified before the forgery
    # An unverifiable reply is an unknown outcome: the job waits to be retried, it is neither done nor dead.
    assert set(states) == {State.DONE, State.PENDING}
    outbox.close()
