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
