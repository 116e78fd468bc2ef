"""The daemon driven only through its ECR socket, with the simulated gateway behind it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agent.ecr.client import EcrClient, EcrError
from hardware_sim.gateway import GatewaySimulator
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.daemon import Daemon
from tests.support.gateway import Store


def final(body: dict[str, Any]) -> bool:
    return bool(body["sale"]["final"])


def gateway_trade(store: Store, out_trade_no: str) -> dict[str, Any]:
    return next(t for t in store.gateway.inspect()["trades"] if t["out_trade_no"] == out_trade_no)


def test_a_paid_sale(daemon: Daemon, simulated_gateway: Store) -> None:
    with daemon.ecr() as ecr:
        started = ecr.request("sale.start", {"sale_id": "A1", "amount": "12.5", "subject": "Till 1",
                                             "code": example(Behaviour.PAID)})  # fmt: skip
        assert started["sale"]["state"] == "paying" and started["sale"]["amount"] == "12.50"
        done = ecr.wait_for("sale.updated", final, timeout=20)["body"]["sale"]
        assert done["state"] == "succeeded"
        assert ecr.request("sale.get", {"sale_id": "A1"})["sale"]["state"] == "succeeded"
    assert gateway_trade(simulated_gateway, done["out_trade_no"])["status"] == "TRADE_SUCCESS"


def test_declined_sale_and_busy_and_unknown_ops(daemon: Daemon) -> None:
    with daemon.ecr() as ecr:
        ecr.request("sale.start", {"sale_id": "D1", "amount": "5", "subject": "Till 1",
                                   "code": example(Behaviour.BALANCE_NOT_ENOUGH)})  # fmt: skip
        sale = ecr.wait_for("sale.updated", final, timeout=20)["body"]["sale"]
        assert sale["state"] == "failed" and sale["sub_code"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
        ecr.request("sale.start", {"sale_id": "D2", "amount": "5", "subject": "Till 1",
                                   "code": example(Behaviour.NEVER_COMPLETES)})  # fmt: skip
        with pytest.raises(EcrError) as busy:
            ecr.request("sale.start", {"sale_id": "D3", "amount": "5", "subject": "Till 1"})
        assert busy.value.code == "BUSY"
        with pytest.raises(EcrError) as unknown:
            ecr.request("teleport")
        assert unknown.value.code == "UNKNOWN_OP"
        status = ecr.request("status.get")
        assert status["active_sale"]["sale_id"] == "D2" and status["network"]["online"] is True
        ecr.request("sale.cancel", {"sale_id": "D2"})
        assert ecr.wait_for("sale.updated", final, timeout=20)["body"]["sale"]["state"] == "cancelled"


def test_killed_mid_sale_the_restarted_daemon_closes_the_trade(daemon: Daemon, simulated_gateway: Store) -> None:
    with daemon.ecr() as ecr:
        started = ecr.request("sale.start", {"sale_id": "K1", "amount": "30", "subject": "Till 1",
                                             "code": example(Behaviour.NEVER_COMPLETES)})  # fmt: skip
        ecr.wait_for("sale.updated", lambda b: b["sale"]["state"] == "waiting_buyer", timeout=10)
        epoch = ecr.hello["epoch"]
    daemon.kill()
    daemon.start()
    with daemon.ecr(last_seq=0, epoch=epoch) as ecr:
        assert ecr.hello["gap"] is True and ecr.hello["epoch"] != epoch  # a new epoch after the restart
        sale = ecr.wait_for("sale.updated", lambda b: b["sale"]["sale_id"] == "K1" and final(b), timeout=30)
    assert sale["body"]["sale"]["state"] == "cancelled"
    trade = gateway_trade(simulated_gateway, started["sale"]["out_trade_no"])
    assert trade["status"] == "TRADE_CLOSED"


def test_reconnecting_ecr_recovers_the_outcome_by_replay(daemon: Daemon) -> None:
    ecr = daemon.ecr()
    ecr.request("sale.start", {"sale_id": "R1", "amount": "8", "subject": "Till 1",
                               "code": example(Behaviour.NEEDS_CONFIRMATION, confirm_after=1)})  # fmt: skip
    first = ecr.wait_for("sale.updated")
    epoch, last_seq = first["epoch"], first["seq"]
    ecr.close()  # the ECR crashes mid-sale
    with daemon.ecr() as watcher:
        watcher.wait_for("sale.updated", final, timeout=20)
    with daemon.ecr(last_seq=last_seq, epoch=epoch) as again:
        assert again.hello["gap"] is False and again.hello["replayed"] >= 1
        replayed = again.wait_for("sale.updated", final, timeout=5)
        assert replayed["body"]["sale"]["state"] == "succeeded"


def test_network_cut_after_trade_pay_ends_with_the_trade_cancelled_once_back(daemon: Daemon,
                                                                             simulated_gateway: Store) -> None:
    gateway = simulated_gateway.gateway
    # The line breaks after each request is sent: Alipay processes trade.pay, the queries and the
    # cancel, but no answer comes back, past the sale's deadline.
    gateway.set_faults(drop_rate=1.0, methods=["alipay.trade.pay", "alipay.trade.query", "alipay.trade.cancel"])
    with daemon.ecr() as ecr:
        started = ecr.request("sale.start", {"sale_id": "N1", "amount": "15", "subject": "Till 1",
                                             "code": example(Behaviour.PAID)})  # fmt: skip
        reversing = ecr.wait_for("sale.updated", lambda b: b["sale"]["state"] == "reversing", timeout=30)
        assert reversing["body"]["sale"]["sale_id"] == "N1"
        queued = ecr.wait_for("outbox.status", lambda b: b["kind"] == "trade.cancel", timeout=30)
        assert queued["body"]["state"] in ("pending", "in_flight")
        assert ecr.request("sale.get", {"sale_id": "N1"})["sale"]["state"] == "reversing"
        gateway.set_faults()  # the line is back
        done = ecr.wait_for("sale.updated", lambda b: b["sale"]["sale_id"] == "N1" and final(b), timeout=60)
    assert done["body"]["sale"]["state"] == "cancelled"
    trade = gateway_trade(simulated_gateway, started["sale"]["out_trade_no"])
    assert trade["status"] == "TRADE_CLOSED"  # paid, then reversed: no trade left open


def test_an_outage_at_alipay_fails_new_sales_fast_and_tells_the_true_reason(daemon: Daemon,
                                                                            simulated_gateway: Store) -> None:
    gateway = simulated_gateway.gateway
    with daemon.ecr() as ecr:
        start_in_flight_when_alipay_goes_down(ecr, gateway)
        # Not the deadline (60 s): the agent notices the outage and reverses at once, saying why.
        reversing = ecr.wait_for("sale.updated", lambda b: b["sale"]["state"] == "reversing", timeout=20)
        reason = reversing["body"]["sale"]["reason"]
        assert "unreachable" in reason and "another payment method" in reason
        assert ecr.request("status.get")["network"]["online"] is False
        with pytest.raises(EcrError) as refused:
            ecr.request("sale.start", {"sale_id": "O2", "amount": "3", "subject": "Till 1",
                                       "code": example(Behaviour.PAID)})  # fmt: skip
        assert refused.value.code == "NETWORK_UNAVAILABLE"  # the true reason, not BUSY
        gateway.set_faults()  # Alipay is back: the queued cancel goes through
        done = ecr.wait_for("sale.updated", lambda b: b["sale"]["sale_id"] == "O1" and final(b), timeout=60)
        assert ecr.request("status.get")["network"]["online"] is True
    sale = done["body"]["sale"]
    assert sale["state"] == "cancelled" and sale["reason"] == "Alipay was unreachable, so the payment was cancelled"
    assert "did not confirm" not in sale["reason"]
    trade = gateway_trade(simulated_gateway, sale["out_trade_no"])
    assert trade["status"] == "TRADE_CLOSED"  # the order number is closed: a late payment cannot land


def test_a_proxy_504_after_the_buyer_paid_is_never_reported_declined(daemon: Daemon, simulated_gateway: Store) -> None:
    simulated_gateway.gateway.set_faults(processed_5xx_rate=1.0, methods=["alipay.trade.pay"])
    with daemon.ecr() as ecr:
        ecr.request("sale.start", {"sale_id": "P1", "amount": "15", "subject": "Till 1",
                                   "code": example(Behaviour.PAID)})  # fmt: skip
        done = ecr.wait_for("sale.updated", lambda b: b["sale"]["sale_id"] == "P1" and final(b), timeout=30)
    assert done["body"]["sale"]["state"] == "succeeded"
    assert gateway_trade(simulated_gateway, done["body"]["sale"]["out_trade_no"])["status"] == "TRADE_SUCCESS"


def start_in_flight_when_alipay_goes_down(ecr: EcrClient, gateway: GatewaySimulator) -> None:
    """Start sale O1 with Alipay just gone: its call is the first to meet the outage. On a loaded
    machine the agent's first probe can land after the outage began; the sale is then refused at
    once (NETWORK_UNAVAILABLE), so Alipay comes back until the agent has seen it, and goes again."""
    for _ in range(3):
        gateway.outage(600)  # Alipay's side resets every connection, after accepting it
        try:
            ecr.request("sale.start", {"sale_id": "O1", "amount": "15", "subject": "Till 1",
                                       "code": example(Behaviour.PAID)})  # fmt: skip
            return
        except EcrError as refused:
            assert refused.code == "NETWORK_UNAVAILABLE"
        gateway.set_faults()
        deadline = time.monotonic() + 30  # the agent probes every 3 s while Alipay is unreachable
        while ecr.request("status.get")["network"]["online"] is not True:
            assert time.monotonic() < deadline, "the agent never saw Alipay back"
            time.sleep(0.1)
    raise AssertionError("the agent's probe met the outage before the sale three times")
