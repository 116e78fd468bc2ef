"""Fault injection over HTTP: each kind, set at start and at run time (Python and admin API)."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.gateway import Behaviour, GatewaySimulator, example
from hardware_sim.gateway.admin import GatewayAdmin

from .conftest import APP_ID, FakeClock
from .oapi import Reply, TinyClient, public_pem

QUERY = "alipay.trade.query"
PAY = "alipay.trade.pay"


def pay(client: TinyClient, out_trade_no: str) -> Reply:
    return client.call(PAY, {"out_trade_no": out_trade_no, "scene": "bar_code", "subject": "x",
                             "total_amount": "1.00", "auth_code": example(Behaviour.PAID)})  # fmt: skip


def test_error_rate_answers_20000_without_processing(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(error_rate=1.0)
    reply = pay(client, "f1")
    assert (reply.code, reply.sub_code, reply.node["msg"]) == (
        "20000",
        "isp.unknow-error",
        "Service Currently Unavailable",
    )
    assert reply.verified
    sim.set_faults()
    assert client.call(QUERY, {"out_trade_no": "f1"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert sim.inspect()["faults_injected"]["error"] == 1


def test_reset_before_processing_loses_the_call(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        pay(client, "f2")
    sim.set_faults()
    assert client.call(QUERY, {"out_trade_no": "f2"}).sub_code == "ACQ.TRADE_NOT_EXIST"


def test_drop_processes_then_closes_without_reply(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        pay(client, "f3")
    sim.set_faults()
    assert client.ok(QUERY, {"out_trade_no": "f3"})["trade_status"] == "TRADE_SUCCESS"  # it happened


def pay_biz(out_trade_no: str) -> dict[str, str]:
    return {"out_trade_no": out_trade_no, "scene": "bar_code", "subject": "x", "total_amount": "1.00",
            "auth_code": example(Behaviour.PAID)}  # fmt: skip


def test_a_load_balancer_503_passes_nothing_on(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(proxy_5xx_rate=1.0)
    response = client.send(PAY, pay_biz("f5"))
    assert response.status_code == 503 and b"<html>" in response.content
    sim.set_faults()
    assert client.call(QUERY, {"out_trade_no": "f5"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert sim.inspect()["faults_injected"]["proxy_5xx"] == 1


def test_a_load_balancer_504_after_processing_hides_a_payment(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(processed_5xx_rate=1.0)
    response = client.send(PAY, pay_biz("f6"))
    assert (response.status_code, response.content) == (504, b"")
    sim.set_faults()
    assert client.ok(QUERY, {"out_trade_no": "f6"})["trade_status"] == "TRADE_SUCCESS"  # the buyer was charged


def test_bad_signature_replies_do_not_verify(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(bad_sign_rate=1.0)
    reply = client.call(QUERY, {"out_trade_no": "f4"})
    assert reply.signed and not reply.verified
    assert reply.sub_code == "ACQ.TRADE_NOT_EXIST"  # well-formed body, wrong signature


def test_method_filter_limits_faults(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(error_rate=1.0, methods=[PAY])
    assert client.call(QUERY, {"out_trade_no": "x"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert pay(client, "f5").code == "20000"


def test_latency_is_recorded(client: TinyClient, sim: GatewaySimulator) -> None:
    sim.set_faults(latency=0.01)
    assert client.call(QUERY, {"out_trade_no": "x"}).verified
    assert sim.inspect()["faults_injected"]["latency"] == 1


def test_outage_resets_everything_until_it_ends(app_key: rsa.RSAPrivateKey, clock: FakeClock) -> None:
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}, clock=clock) as sim:
        client = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
        client.clock = clock
        admin = GatewayAdmin(sim.url)
        admin.outage(30)
        with pytest.raises(httpx.TransportError):
            client.call(QUERY, {"out_trade_no": "x"})
        assert admin.health()["status"] == "ok"  # admin stays reachable
        clock.advance(31)
        assert client.call(QUERY, {"out_trade_no": "x"}).verified
        client.close()


def test_faults_at_start_and_over_the_admin_api(app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}, faults={"error_rate": 1.0, "seed": 3}) as sim:
        client = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
        assert client.call(QUERY, {"out_trade_no": "x"}).code == "20000"
        admin = GatewayAdmin(sim.base_url)
        assert admin.faults()["error_rate"] == 1.0
        assert admin.set_faults({"error_rate": 0.0})["error_rate"] == 0.0
        assert client.call(QUERY, {"out_trade_no": "x"}).code == "40004"
        with pytest.raises(httpx.HTTPStatusError):
            httpx.put(sim.base_url + "/__admin/faults", json={"error_rate": 7}).raise_for_status()
        with pytest.raises(httpx.HTTPStatusError):
            httpx.put(sim.base_url + "/__admin/faults", json={"explode": 1}).raise_for_status()
        client.close()


def test_a_seeded_rate_replays_the_same_sequence(app_key: rsa.RSAPrivateKey) -> None:
    outcomes = []
    for _ in range(2):
        with GatewaySimulator(apps={APP_ID: public_pem(app_key)}, faults={"error_rate": 0.5, "seed": 7}) as sim:
            client = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
            outcomes.append([client.call(QUERY, {"out_trade_no": "x"}).code for _ in range(12)])
            client.close()
    assert outcomes[0] == outcomes[1]
    assert {"20000", "40004"} == set(outcomes[0])
