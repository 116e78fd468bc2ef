"""Payments against the simulated gateway: paid, confirmed, declined, never completing, unknown outcomes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from agent.alipay import AlipayClient
from agent.sales.machine import SaleState
from agent.sales.service import PaymentService, PaymentSettings, SaleError
from agent.sales.store import SaleStore
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.gateway import Store

SETTINGS = PaymentSettings(store_id="SH01", till_id="T1", deadline_seconds=2.0, query_interval=0.2)


class RecordingReversals:
    def __init__(self) -> None:
        self.queued: list[tuple[str, str]] = []

    async def enqueue_cancel(self, *, sale_id: str, out_trade_no: str) -> None:
        self.queued.append((sale_id, out_trade_no))


@pytest.fixture
def service(tmp_path: Path, alipay_client: AlipayClient) -> PaymentService:
    return PaymentService(alipay_client, SaleStore(tmp_path / "agent.db"), RecordingReversals(), SETTINGS)


def trade(store: Store, out_trade_no: str | None) -> dict[str, object]:
    trades = store.gateway.inspect()["trades"]
    found = [t for t in trades if t["out_trade_no"] == out_trade_no]
    assert found, f"no trade {out_trade_no}"
    return dict(found[0])


async def test_paid_at_once(service: PaymentService, simulated_gateway: Store) -> None:
    service.start(sale_id="s1", amount="9.9", subject="Till 1", code=example(Behaviour.PAID))
    sale = await service.wait("s1")
    assert sale.state is SaleState.SUCCEEDED and sale.amount == "9.90"
    assert trade(simulated_gateway, sale.out_trade_no)["status"] == "TRADE_SUCCESS"


async def test_buyer_confirms_on_the_phone(service: PaymentService) -> None:
    service.start(sale_id="s2", amount="20", subject="Till 1", code=example(Behaviour.NEEDS_CONFIRMATION,
                                                                               confirm_after=1))  # fmt: skip
    sale = await service.wait("s2")
    assert sale.state is SaleState.SUCCEEDED
    assert any("buyer confirming" in h for h in sale.history)


async def test_declined_is_a_failed_sale_with_the_reason(service: PaymentService) -> None:
    service.start(sale_id="s3", amount="20", subject="Till 1", code=example(Behaviour.BALANCE_NOT_ENOUGH))
    sale = await service.wait("s3")
    assert sale.state is SaleState.FAILED
    assert sale.sub_code == "ACQ.BUYER_BALANCE_NOT_ENOUGH" and "balance" in (sale.reason or "")


async def test_never_completing_is_cancelled_at_the_deadline(service: PaymentService, simulated_gateway: Store) -> None:
    service.start(sale_id="s4", amount="20", subject="Till 1", code=example(Behaviour.NEVER_COMPLETES))
    sale = await service.wait("s4")
    assert sale.state is SaleState.CANCELLED and not sale.refunded
    assert trade(simulated_gateway, sale.out_trade_no)["status"] == "TRADE_CLOSED"


async def test_ecr_cancel_while_waiting_reverses_the_trade(service: PaymentService, simulated_gateway: Store) -> None:
    service.start(sale_id="s5", amount="20", subject="Till 1", code=example(Behaviour.NEVER_COMPLETES))
    await asyncio.sleep(0.3)
    service.cancel("s5")
    sale = await service.wait("s5")
    assert sale.state is SaleState.CANCELLED and "till" in (sale.reason or "")
    assert trade(simulated_gateway, sale.out_trade_no)["status"] == "TRADE_CLOSED"


async def test_response_dropped_after_pay_is_resolved_by_query(service: PaymentService, simulated_gateway: Store) -> None:
    simulated_gateway.gateway.set_faults(drop_rate=1.0, methods=["alipay.trade.pay"])
    service.start(sale_id="s6", amount="5", subject="Till 1", code=example(Behaviour.PAID))
    sale = await service.wait("s6")
    assert sale.state is SaleState.SUCCEEDED
    assert any("unknown" in h for h in sale.history)


async def test_cancel_that_cannot_be_delivered_goes_to_the_outbox(tmp_path: Path, simulated_gateway: Store) -> None:
    reversals = RecordingReversals()
    async with simulated_gateway.client() as client:
        service = PaymentService(client, SaleStore(tmp_path / "a.db"), reversals, SETTINGS)
        simulated_gateway.gateway.set_faults(error_rate=1.0, methods=["alipay.trade.cancel"])
        service.start(sale_id="s7", amount="5", subject="Till 1", code=example(Behaviour.NEVER_COMPLETES))
        sale = await service.wait("s7")
        assert sale.state is SaleState.REVERSING
        assert reversals.queued == [("s7", sale.out_trade_no)]
        service.reversal_confirmed("s7", "close")
        assert service.get("s7").state is SaleState.CANCELLED  # type: ignore[union-attr]


async def test_one_active_sale_per_till_and_idempotent_resends(service: PaymentService) -> None:
    code = example(Behaviour.NEVER_COMPLETES)
    first = service.start(sale_id="s8", amount="5", subject="Till 1", code=code)
    assert service.start(sale_id="s8", amount="5", subject="Till 1", code=code).out_trade_no == first.out_trade_no
    with pytest.raises(SaleError) as conflict:
        service.start(sale_id="s8", amount="6", subject="Till 1", code=code)
    assert conflict.value.code == "IDEMPOTENCY_CONFLICT"
    with pytest.raises(SaleError) as busy:
        service.start(sale_id="s9", amount="5", subject="Till 1", code=code)
    assert busy.value.code == "BUSY"
    service.cancel("s8")
    await service.wait("s8")


async def test_offline_fails_fast_and_bad_amounts_are_refused(tmp_path: Path, alipay_client: AlipayClient) -> None:
    offline = PaymentService(alipay_client, SaleStore(tmp_path / "o.db"), RecordingReversals(), SETTINGS,
                             online=lambda: False)  # fmt: skip
    with pytest.raises(SaleError) as info:
        offline.start(sale_id="x", amount="5", subject="Till 1", code=example(Behaviour.PAID))
    assert info.value.code == "NETWORK_UNAVAILABLE"
    for amount in ("0", "0.001", "abc", "100000000.01", "-1", "NaN"):
        with pytest.raises(SaleError) as bad:
            offline.start(sale_id=f"a{amount}", amount=amount, subject="Till 1")
        assert bad.value.code == "BAD_REQUEST"


async def test_a_restart_mid_sale_resumes_and_closes_the_trade(tmp_path: Path, simulated_gateway: Store) -> None:
    db = tmp_path / "agent.db"
    async with simulated_gateway.client() as client:
        first = PaymentService(client, SaleStore(db), RecordingReversals(), SETTINGS)
        first.start(sale_id="r1", amount="5", subject="Till 1", code=example(Behaviour.NEVER_COMPLETES))
        await asyncio.sleep(0.3)
        await first.close()  # as if killed: only the database survives
        second = PaymentService(client, SaleStore(db), RecordingReversals(), SETTINGS)
        assert second.resume() == 1
        sale = await second.wait("r1")
    assert sale.state is SaleState.CANCELLED
    assert trade(simulated_gateway, sale.out_trade_no)["status"] == "TRADE_CLOSED"


async def test_cancel_while_trade_pay_is_in_flight_is_not_lost(service: PaymentService, simulated_gateway: Store) -> None:
    simulated_gateway.gateway.set_faults(latency=1.0, methods=["alipay.trade.pay"])
    service.start(sale_id="c1", amount="5", subject="Till 1", code=example(Behaviour.PAID))
    await asyncio.sleep(0.3)
    assert service.get("c1").state is SaleState.PAYING  # type: ignore[union-attr]
    service.cancel("c1")
    sale = await service.wait("c1")
    # The customer paid while the till cancelled: the payment is given back.
    assert sale.state is SaleState.CANCELLED and sale.refunded


# --- money never reported declined when it may have moved -----------------------------------------


async def test_a_504_after_alipay_took_the_money_is_queried_and_ends_paid(
    service: PaymentService, simulated_gateway: Store
) -> None:
    # The load balancer answers 504 after the backend charged the buyer: the till must not say declined.
    simulated_gateway.gateway.set_faults(processed_5xx_rate=1.0, methods=["alipay.trade.pay"])
    service.start(sale_id="p1", amount="5", subject="Till 1", code=example(Behaviour.PAID))
    sale = await service.wait("p1")
    assert sale.state is SaleState.SUCCEEDED
    assert trade(simulated_gateway, sale.out_trade_no)["status"] == "TRADE_SUCCESS"
    assert any("no_answer" in h for h in sale.history)


async def test_a_503_that_never_reached_alipay_ends_cancelled_with_no_money_taken(
    service: PaymentService, simulated_gateway: Store
) -> None:
    simulated_gateway.gateway.set_faults(proxy_5xx_rate=1.0, methods=["alipay.trade.pay"])
    service.start(sale_id="p2", amount="5", subject="Till 1", code=example(Behaviour.PAID))
    sale = await service.wait("p2")
    # Queried until the deadline, then cancelled: the order number is closed so a late pay cannot land.
    assert sale.state is SaleState.CANCELLED and not sale.refunded
    assert sale.reason == "Alipay has no record of this payment: no money was taken"
    assert trade(simulated_gateway, sale.out_trade_no)["status"] == "TRADE_CLOSED"


class HostileAfterProcessing(httpx.AsyncBaseTransport):
    """Passes each call to the real gateway, then replaces the reply of `method` with `body` once."""

    def __init__(self, method: str, body: bytes) -> None:
        self.method, self.body = method, body
        self.inner = httpx.AsyncHTTPTransport()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.params.get("method") == self.method and not self.sent:
            await response.aread()
            self.sent += 1
            return httpx.Response(200, content=self.body)
        return response


@pytest.mark.parametrize(
    "body",
    [
        b'{"alipay_trade_pay_response":' + b"[" * 1000 + b"]" * 1000 + b',"sign":"x"}',
        b'{"alipay_trade_pay_response":{"code":' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b"\x00" * 64,
    ],
)
async def test_a_hostile_reply_to_trade_pay_is_resolved_by_query_not_left_paying(
    tmp_path: Path, simulated_gateway: Store, body: bytes
) -> None:
    transport = HostileAfterProcessing("alipay.trade.pay", body)
    async with AlipayClient(simulated_gateway.credentials, simulated_gateway.gateway.url, transport=transport) as client:
        service = PaymentService(client, SaleStore(tmp_path / "h.db"), RecordingReversals(), SETTINGS)
        service.start(sale_id="h1", amount="5", subject="Till 1", code=example(Behaviour.PAID))
        sale = await asyncio.wait_for(service.wait("h1"), 30)
    assert transport.sent == 1
    assert sale.state is SaleState.SUCCEEDED  # the query found the payment the hostile reply hid


class Flag:
    def __init__(self) -> None:
        self.online = True

    def __call__(self) -> bool:
        return self.online


async def test_an_outage_at_the_far_end_reverses_at_once_and_says_why(tmp_path: Path, simulated_gateway: Store) -> None:
    online = Flag()
    reversals = RecordingReversals()
    settings = PaymentSettings(store_id="SH01", till_id="T1", deadline_seconds=60.0, query_interval=5.0)
    async with simulated_gateway.client() as client:
        service = PaymentService(client, SaleStore(tmp_path / "o.db"), reversals, settings, online=online)
        simulated_gateway.gateway.outage(120)  # every connection reset after it was accepted
        service.start(sale_id="o1", amount="5", subject="Till 1", code=example(Behaviour.PAID))
        for _ in range(100):
            if service.get("o1").state is SaleState.WAITING_BUYER:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        # The connectivity monitor judged Alipay unreachable: the sale must not wait out the deadline.
        online.online = False
        service.network_changed(False)
        sale = await asyncio.wait_for(service.wait("o1"), 10)
        assert sale.state is SaleState.REVERSING
        assert reversals.queued == [("o1", sale.out_trade_no)]
        assert sale.reason is not None and "unreachable" in sale.reason and "another payment" in sale.reason
        assert "did not confirm" not in sale.reason
        # A new sale fails fast with the true reason, not BUSY.
        with pytest.raises(SaleError) as info:
            service.start(sale_id="o2", amount="5", subject="Till 1", code=example(Behaviour.PAID))
        assert info.value.code == "NETWORK_UNAVAILABLE"
        service.reversal_confirmed("o1", "close")
    done = service.get("o1")
    assert done is not None and done.state is SaleState.CANCELLED
    assert done.reason == "Alipay was unreachable, so the payment was cancelled"


async def test_queries_that_get_no_answer_until_the_deadline_say_so(
    service: PaymentService, simulated_gateway: Store
) -> None:
    simulated_gateway.gateway.set_faults(drop_rate=1.0, methods=["alipay.trade.pay", "alipay.trade.query"])
    service.start(sale_id="n1", amount="5", subject="Till 1", code=example(Behaviour.PAID))
    sale = await service.wait("n1")
    assert sale.state is SaleState.CANCELLED and sale.refunded  # the payment had gone through
    assert sale.reason == "Alipay did not answer in time, so the payment was cancelled; payment refunded"


async def test_a_sale_being_reversed_does_not_keep_the_till_busy(tmp_path: Path, simulated_gateway: Store) -> None:
    reversals = RecordingReversals()
    async with simulated_gateway.client() as client:
        service = PaymentService(client, SaleStore(tmp_path / "b.db"), reversals, SETTINGS)
        simulated_gateway.gateway.set_faults(error_rate=1.0, methods=["alipay.trade.cancel"])
        service.start(sale_id="b1", amount="5", subject="Till 1", code=example(Behaviour.NEVER_COMPLETES))
        first = await service.wait("b1")
        assert first.state is SaleState.REVERSING and reversals.queued
        simulated_gateway.gateway.set_faults()
        service.start(sale_id="b2", amount="5", subject="Till 1", code=example(Behaviour.PAID))
        assert (await service.wait("b2")).state is SaleState.SUCCEEDED


class FailingOnce:
    """A reversal queue whose first enqueue fails (a full outbox, a full disk)."""

    def __init__(self) -> None:
        self.calls = 0
        self.queued: list[tuple[str, str]] = []

    async def enqueue_cancel(self, *, sale_id: str, out_trade_no: str) -> None:
        self.calls += 1
        if self.calls == 1:
            raise OSError(28, "No space left on device")
        self.queued.append((sale_id, out_trade_no))


async def test_a_sale_whose_driving_fails_is_driven_again_not_left_open(
    tmp_path: Path, simulated_gateway: Store
) -> None:
    reversals = FailingOnce()
    async with simulated_gateway.client() as client:
        service = PaymentService(client, SaleStore(tmp_path / "f.db"), reversals, SETTINGS)
        simulated_gateway.gateway.set_faults(error_rate=1.0, methods=["alipay.trade.cancel"])
        service.start(sale_id="f1", amount="5", subject="Till 1", code=example(Behaviour.NEVER_COMPLETES))
        sale = await asyncio.wait_for(service.wait("f1"), 30)
    assert sale.state is SaleState.REVERSING
    assert reversals.calls == 2 and reversals.queued == [("f1", sale.out_trade_no)]
