"""alipay.system.oauth.token and the customer's auth_code: single use, expiring, refreshable."""

from __future__ import annotations

from hardware_sim.customer import open_card
from hardware_sim.gateway import GatewaySimulator

from .conftest import FakeClock, activation_url, make_template
from .oapi import TinyClient

TOKEN = "alipay.system.oauth.token"


def fresh_code(client: TinyClient) -> str:
    url = activation_url(client, make_template(client))
    return open_card(url, mobile="13800138000", name="Li", follow_callback=False).params["auth_code"]


def test_auth_code_exchanges_once_for_a_token(client: TinyClient) -> None:
    code = fresh_code(client)
    node = client.ok(TOKEN, text={"grant_type": "authorization_code", "code": code})
    assert len(node["access_token"]) == 40 and len(node["refresh_token"]) == 40
    assert node["expires_in"] == 1296000 and isinstance(node["expires_in"], int)
    assert node["user_id"].startswith("2088") and len(node["user_id"]) == 16
    assert "code" not in node  # like the real capture
    again = client.call(TOKEN, text={"grant_type": "authorization_code", "code": code})
    assert (again.key, again.code, again.sub_code) == ("error_response", "40002", "isv.code-invalid")
    assert again.verified


def test_auth_code_expires(timed: tuple[GatewaySimulator, TinyClient], clock: FakeClock) -> None:
    _, client = timed
    code = fresh_code(client)
    clock.advance(61)
    reply = client.call(TOKEN, text={"grant_type": "authorization_code", "code": code})
    assert (reply.key, reply.sub_code) == ("error_response", "isv.code-invalid")


def test_expired_access_token_is_refused(timed: tuple[GatewaySimulator, TinyClient], clock: FakeClock) -> None:
    _, client = timed
    token = client.ok(TOKEN, text={"grant_type": "authorization_code", "code": fresh_code(client)})
    clock.advance(1296001)
    reply = client.call(
        "alipay.marketing.card.activateform.query",
        {"biz_type": "MEMBER_CARD", "template_id": "1", "request_id": "1"},
        auth_token=token["access_token"],
    )
    assert (reply.key, reply.code, reply.sub_code) == ("error_response", "20001", "aop.auth-token-time-out")


def test_refresh_token_gives_a_new_pair_once(client: TinyClient) -> None:
    first = client.ok(TOKEN, text={"grant_type": "authorization_code", "code": fresh_code(client)})
    second = client.ok(TOKEN, text={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second["user_id"] == first["user_id"] and second["access_token"] != first["access_token"]
    reused = client.call(TOKEN, text={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reused.sub_code == "isv.refreshed-token-invalid"
    unknown = client.call(TOKEN, text={"grant_type": "refresh_token", "refresh_token": "x"})
    assert unknown.sub_code == "isv.refresh-token-invalid"


def test_bad_grant_type_and_unknown_code(client: TinyClient) -> None:
    assert client.call(TOKEN, text={"grant_type": "password"}).sub_code == "isv.grant-type-invalid"
    assert (
        client.call(TOKEN, text={"grant_type": "authorization_code", "code": "0" * 32}).sub_code == "isv.code-invalid"
    )
