"""ISV mode: `app_auth_token` is checked against the authorizations merchants gave (reference §2.1, §2.3).

Unknown or another ISV's token -> 20001 aop.invalid-app-auth-token, expired -> aop.app-auth-token-time-out,
API not covered -> aop.invalid-app-auth-token-no-api, all signed under `error_response` and nothing
processed. A valid token makes the call act as the authorizing merchant's app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.gateway import Behaviour, GatewaySimulator, example
from hardware_sim.gateway.admin import GatewayAdmin

from .conftest import APP_ID, FakeClock
from .oapi import TinyClient, public_pem

MERCHANT_APP = "2021000000000777"
PAY, QUERY = "alipay.trade.pay", "alipay.trade.query"


def pay_biz(out_trade_no: str) -> dict[str, Any]:
    return {"out_trade_no": out_trade_no, "scene": "bar_code", "auth_code": example(Behaviour.PAID),
            "subject": "Tea", "total_amount": "8.00"}  # fmt: skip


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def merchant_client(sim: GatewaySimulator, key: rsa.RSAPrivateKey) -> TinyClient:
    sim.register_app(MERCHANT_APP, public_pem(key))
    return TinyClient(sim.url, MERCHANT_APP, key, sim.alipay_public_key_pem)


def assert_token_error(reply: Any, sub_code: str) -> None:
    assert (reply.key, reply.code, reply.node["msg"], reply.sub_code) == (
        "error_response", "20001", "Insufficient Token Permissions", sub_code)  # fmt: skip
    assert reply.verified  # the ISV app is known: signed


def test_a_bogus_app_auth_token_is_refused_and_nothing_is_processed(client: TinyClient) -> None:
    reply = client.call(PAY, pay_biz("isv_1"), override={"app_auth_token": "201901BBbogus0000000000000000000000000000"})
    assert_token_error(reply, "aop.invalid-app-auth-token")
    assert client.call(QUERY, {"out_trade_no": "isv_1"}).sub_code == "ACQ.TRADE_NOT_EXIST"


def test_a_token_issued_to_another_isv_app_is_invalid_for_this_one(client: TinyClient, sim: GatewaySimulator) -> None:
    other_isv = sim.authorize_isv("2021000000000999", MERCHANT_APP)
    reply = client.call(QUERY, {"out_trade_no": "x"}, override={"app_auth_token": other_isv["app_auth_token"]})
    assert_token_error(reply, "aop.invalid-app-auth-token")


def test_a_valid_token_acts_as_the_authorizing_merchant(
    client: TinyClient, sim: GatewaySimulator, merchant_key: rsa.RSAPrivateKey
) -> None:
    auth = sim.authorize_isv(APP_ID, MERCHANT_APP)
    assert len(auth["app_auth_token"]) == 40 and auth["user_id"].startswith("2088") and auth["apis"] == []
    token = {"app_auth_token": auth["app_auth_token"]}
    paid = client.call(PAY, pay_biz("isv_2"), override=token)
    assert paid.verified and paid.code == "10000"
    merchant = merchant_client(sim, merchant_key)
    try:  # the trade is the merchant's, not the ISV app's own
        assert merchant.ok(QUERY, {"out_trade_no": "isv_2"})["trade_status"] == "TRADE_SUCCESS"
    finally:
        merchant.close()
    assert client.call(QUERY, {"out_trade_no": "isv_2"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert client.ok(QUERY, {"out_trade_no": "isv_2"}, override=token)["trade_status"] == "TRADE_SUCCESS"


def test_a_token_covers_only_the_apis_the_merchant_authorized(client: TinyClient, sim: GatewaySimulator) -> None:
    token = {"app_auth_token": sim.authorize_isv(APP_ID, MERCHANT_APP, apis=[QUERY])["app_auth_token"]}
    assert client.call(QUERY, {"out_trade_no": "isv_3"}, override=token).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert_token_error(client.call(PAY, pay_biz("isv_3"), override=token), "aop.invalid-app-auth-token-no-api")


def test_an_expired_token_times_out(timed: tuple[GatewaySimulator, TinyClient], clock: FakeClock) -> None:
    sim, client = timed
    token = {"app_auth_token": sim.authorize_isv(APP_ID, MERCHANT_APP, expires_in=3600)["app_auth_token"]}
    assert client.call(QUERY, {"out_trade_no": "isv_4"}, override=token).sub_code == "ACQ.TRADE_NOT_EXIST"
    clock.advance(3601)
    assert_token_error(client.call(QUERY, {"out_trade_no": "isv_4"}, override=token), "aop.app-auth-token-time-out")


def test_authorizations_are_seeded_over_the_admin_api_and_bad_ones_refused(
    client: TinyClient, sim: GatewaySimulator
) -> None:
    admin = GatewayAdmin(sim.url)
    auth = admin.authorize_isv(APP_ID, MERCHANT_APP, apis=[QUERY], app_auth_token="201901BBchosen-by-the-test")
    assert auth["app_auth_token"] == "201901BBchosen-by-the-test" and auth["apis"] == [QUERY]
    assert client.call(QUERY, {"out_trade_no": "x"}, override={"app_auth_token": auth["app_auth_token"]}).verified
    for bad in (
        {"isv_app_id": "", "auth_app_id": MERCHANT_APP},
        {"isv_app_id": APP_ID, "auth_app_id": MERCHANT_APP, "apis": ["alipay.no.such.api"]},
        {"isv_app_id": APP_ID, "auth_app_id": MERCHANT_APP, "apis": QUERY},
        {"isv_app_id": APP_ID, "auth_app_id": MERCHANT_APP, "expires_in": -1},
        {"isv_app_id": APP_ID, "auth_app_id": MERCHANT_APP, "app_auth_token": "x" * 41},
        {"isv_app_id": APP_ID, "auth_app_id": MERCHANT_APP, "app_auth_token": auth["app_auth_token"]},  # taken
    ):
        response = httpx.post(sim.base_url + "/__admin/app_auths", json=bad)
        assert response.status_code == 400 and response.json()["error"], bad


def test_authorizations_survive_a_restart(tmp_path: Any, app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator(tmp_path) as sim:
        sim.register_app(APP_ID, public_pem(app_key))  # saved in the state dir
        token = sim.authorize_isv(APP_ID, MERCHANT_APP)["app_auth_token"]
    with GatewaySimulator(tmp_path) as sim:
        client = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
        try:
            reply = client.call(QUERY, {"out_trade_no": "x"}, override={"app_auth_token": token})
            assert reply.verified and reply.sub_code == "ACQ.TRADE_NOT_EXIST"
        finally:
            client.close()
