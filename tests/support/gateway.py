"""A simulated gateway with an app registered, and an agent client for it: shared by flow tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay import AlipayClient, Credentials, Timeouts, load_public_key
from hardware_sim.gateway import GatewaySimulator

APP_ID = "2021000000000001"
_APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Store:
    gateway: GatewaySimulator
    credentials: Credentials

    def client(self, timeouts: Timeouts | None = None) -> AlipayClient:
        return AlipayClient(self.credentials, self.gateway.url, timeouts=timeouts or Timeouts(connect=2, read=3))


@pytest.fixture
def simulated_gateway() -> Iterator[Store]:
    public_pem = _APP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with GatewaySimulator(apps={APP_ID: public_pem}) as gateway:
        credentials = Credentials(APP_ID, _APP_KEY, load_public_key(gateway.alipay_public_key_pem))
        yield Store(gateway, credentials)


@pytest.fixture
async def alipay_client(simulated_gateway: Store) -> AsyncIterator[AlipayClient]:
    async with simulated_gateway.client() as client:
        yield client


def png(width: int, height: int) -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


async def make_template(client: AlipayClient, *, prefix: str = "DRN", request_id: str = "test-template") -> str:
    """A card template with its images and form set up, as the merchant's set-up leaves it."""
    from agent.alipay import apis

    logo = await client.execute(apis.ImageUpload("png", "logo", png(500, 500), filename="logo.png"))
    background = await client.execute(apis.ImageUpload("png", "background", png(1020, 643), filename="bg.png"))
    created = await client.execute(apis.TemplateCreate(
        request_id=request_id, biz_no_prefix=prefix, biz_no_suffix_len=10, write_off_type="qrcode",
        template_style_info={"card_show_name": "Test", "logo_id": logo.image_id, "background_id": background.image_id,
                             "bg_color": "rgb(1,2,3)"},
        template={"column_info_list": [{"code": "POINT", "title": "Points"}],
                  "field_rule_list": [{"field_name": "Point", "rule_name": "ASSIGN_FROM_REQUEST", "rule_value": "Point"}]},
    ))  # fmt: skip
    await client.execute(apis.FormTemplateSet(template_id=created.template_id, required=["mobile", "name"]))
    return created.template_id
