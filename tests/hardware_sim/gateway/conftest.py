from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.gateway import GatewaySimulator

from .oapi import TinyClient, public_pem

APP_ID = "2021000000000001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="session")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sim(app_key: rsa.RSAPrivateKey) -> Iterator[GatewaySimulator]:
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}) as simulator:
        yield simulator


@pytest.fixture
def client(sim: GatewaySimulator, app_key: rsa.RSAPrivateKey) -> Iterator[TinyClient]:
    tiny = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
    yield tiny
    tiny.close()


def upload_image(client: TinyClient, name: str = "logo") -> str:
    node = client.ok(
        "alipay.offline.material.image.upload",
        text={"image_type": "png", "image_name": name},
        files={"image_content": (f"{name}.png", PNG, "image/png")},
    )
    return str(node["image_id"])


def template_biz(logo: str, background: str, request_id: str = "req-1", **extra: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "card_type": "OUT_MEMBER_CARD",
        "biz_no_prefix": "sim",
        "biz_no_suffix_len": "10",
        "write_off_type": "qrcode",
        "template_style_info": {
            "card_show_name": "Sim Card",
            "logo_id": logo,
            "background_id": background,
            "bg_color": "rgb(55,112,179)",
        },
        "column_info_list": [{"code": "POINT", "title": "Points"}],
        "field_rule_list": [{"field_name": "Balance", "rule_name": "ASSIGN_FROM_REQUEST", "rule_value": "balance"}],
        **extra,
    }


def make_template(client: TinyClient, request_id: str = "req-1") -> str:
    logo, background = upload_image(client, "logo"), upload_image(client, "bg")
    node = client.ok("alipay.marketing.card.template.create", template_biz(logo, background, request_id))
    template_id = str(node["template_id"])
    client.ok(
        "alipay.marketing.card.formtemplate.set",
        {
            "template_id": template_id,
            "fields": {
                "required": '{"common_fields":["OPEN_FORM_FIELD_MOBILE","OPEN_FORM_FIELD_NAME"]}',
                "optional": '{"common_fields":["OPEN_FORM_FIELD_GENDER","OPEN_FORM_FIELD_BIRTHDAY"]}',
            },
        },
    )
    return template_id


def activation_url(client: TinyClient, template_id: str, **extra: str) -> str:
    node = client.ok(
        "alipay.marketing.card.activateurl.apply",
        {"template_id": template_id, "callback": "http://127.0.0.1:9/callback", **extra},
    )
    return str(node["apply_card_url"])


def enroll(client: TinyClient, template_id: str, mobile: str = "13800138000") -> dict[str, str]:
    """Customer fills the form, merchant redeems the auth_code: the callback params + tokens."""
    from hardware_sim.customer import open_card

    result = open_card(activation_url(client, template_id), mobile=mobile, name="Li Lei", follow_callback=False)
    token = client.ok(
        "alipay.system.oauth.token", text={"grant_type": "authorization_code", "code": result.params["auth_code"]}
    )
    return {**result.params, "access_token": token["access_token"], "user_id": token["user_id"]}


def open_member_card(client: TinyClient, template_id: str, mobile: str = "13800138000", serial: str = "open-1") -> str:
    member = enroll(client, template_id, mobile)
    node = client.ok(
        "alipay.marketing.card.open",
        {
            "out_serial_no": serial,
            "card_template_id": template_id,
            "card_user_info": {"user_uni_id": member["user_id"], "user_uni_id_type": "UID"},
            "card_ext_info": {"external_card_no": "EXT-1", "point": "0", "balance": "0.00"},
        },
        auth_token=member["access_token"],
    )
    return str(node["card_info"]["biz_card_no"])


class FakeClock:
    """Real time plus an offset the test moves forward: no sleeping in tests."""

    def __init__(self) -> None:
        import time

        self._time = time.time
        self.offset = 0.0

    def __call__(self) -> float:
        return self._time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed(app_key: rsa.RSAPrivateKey, clock: FakeClock) -> Iterator[tuple[GatewaySimulator, TinyClient]]:
    """A simulator and client sharing a fake clock, auth codes living 60 s."""
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}, clock=clock, auth_code_ttl=60) as simulator:
        tiny = TinyClient(simulator.url, APP_ID, app_key, simulator.alipay_public_key_pem)
        tiny.clock = clock
        yield simulator, tiny
        tiny.close()
