"""Exchange mode's memory of exchanged codes (with a stand-in for Alipay): copies of one callback share one
oauth.token call, a kept authorization expires, and Alipay's refusal is told apart from its absence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.alipay.apis.oauth import AccessToken
from agent.alipay.errors import BusinessError, GatewayReply, GatewayUnreachableError
from agent.members.callback_checks import CallbackValues
from relay.exchange import CodeSpent, Exchange, ExchangeUnavailable


class Alipay:
    def __init__(self) -> None:
        self.calls = 0
        self.answer: Exception | None = None
        self.release = asyncio.Event()
        self.release.set()

    async def execute(self, request: Any) -> AccessToken:
        self.calls += 1
        await self.release.wait()
        if self.answer is not None:
            raise self.answer
        return AccessToken(f"token{self.calls}", "2088000000000001", None, 1296000, None, None, None)


def values(code: str = "ac1", request_id: str = "r1") -> CallbackValues:
    return CallbackValues(code, "20240101000000000001", request_id, None, "v1.S1.T1.E1.x")


async def test_copies_of_one_callback_share_one_exchange_and_a_new_code_gets_its_own() -> None:
    alipay, now = Alipay(), [0.0]
    exchange = Exchange(alipay, keep_seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    alipay.release.clear()
    first, second = (asyncio.create_task(exchange.authorize(values())) for _ in range(2))
    await asyncio.sleep(0.01)
    alipay.release.set()
    assert (await first) == (await second) and alipay.calls == 1
    assert (await exchange.authorize(values())).access_token == "token1" and alipay.calls == 1
    assert (await exchange.authorize(values(code="ac2"))).access_token == "token2"
    now[0] = 61.0  # kept no longer: the spent code goes to Alipay again
    await exchange.authorize(values())
    assert alipay.calls == 3


async def test_alipays_refusal_is_a_spent_code_and_its_absence_is_try_again() -> None:
    alipay = Alipay()
    exchange = Exchange(alipay, keep_seconds=60)  # type: ignore[arg-type]
    alipay.answer = BusinessError("invalid", method="alipay.system.oauth.token",
                                  reply=GatewayReply("40002", "Invalid Arguments", "isv.code-invalid"))  # fmt: skip
    with pytest.raises(CodeSpent):
        await exchange.authorize(values())
    alipay.answer = GatewayUnreachableError("down", method="alipay.system.oauth.token")
    with pytest.raises(ExchangeUnavailable) as unavailable:
        await exchange.authorize(values())
    assert unavailable.value.reason == "exchange_unreachable" and len(exchange) == 0
