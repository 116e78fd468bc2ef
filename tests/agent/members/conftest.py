"""A gateway simulator with one card template whose form is set, and an AlipayClient for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay import AlipayClient, Credentials, Timeouts, apis, load_public_key
from hardware_sim.gateway import GatewaySimulator

APP_ID = "2021000000000001"
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"


@pytest.fixture(scope="session")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sim(app_key: rsa.RSAPrivateKey) -> Iterator[GatewaySimulator]:
    pem = app_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with GatewaySimulator(apps={APP_ID: pem.decode()}) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: GatewaySimulator, app_key: rsa.RSAPrivateKey) -> AsyncIterator[AlipayClient]:
    credentials = Credentials(APP_ID, app_key, load_public_key(sim.alipay_public_key_pem))
    async with AlipayClient(credentials, sim.url, timeouts=Timeouts(connect=5, read=10)) as alipay:
        yield alipay


@pytest.fixture
async def template_id(client: AlipayClient) -> str:
    """A template with levels VIP1/VIP2, its form asking mobile and name (required), gender and birthday."""
    from agent.setup import load_spec

    spec = load_spec(EXAMPLES / "card-template.toml")
    ids = {}
    for path in spec.image_files():
        uploaded = await client.execute(apis.ImageUpload("png", path.stem, path.read_bytes(), path.name))
        ids[path] = uploaded.image_id
    created = await client.execute(spec.to_request("members-test", ids))
    await client.execute(apis.FormTemplateSet(created.template_id, ["mobile", "name"], ["gender", "birthday"]))
    return created.template_id


@pytest.fixture
async def activation_url(client: AlipayClient, template_id: str) -> str:
    result = await client.execute(apis.ActivateUrlApply(template_id, callback="http://127.0.0.1:9/callback"))
    return result.url
