"""The open-card flow against the gateway simulator: oauth -> form -> open, one card per submission."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from agent.alipay import AlipayClient, BusinessError, UnknownOutcomeError
from agent.members.open_card import CardValues, derive_out_serial_no, open_card, parse_callback_url
from hardware_sim.customer import open_card as customer_opens
from hardware_sim.gateway import GatewaySimulator

from .conftest import APP_ID

MOBILE = "13552319194"


def customer_fills_form(activation_url: str, mobile: str = MOBILE) -> str:
    result = customer_opens(activation_url, mobile=mobile, name="李飞", gender="FEMALE", birthday="1990-02-03",
                            follow_callback=False)  # fmt: skip
    assert result.callback_url is not None
    return result.callback_url


async def test_a_filled_form_becomes_a_card_with_the_customers_answers(
    client: AlipayClient, sim: GatewaySimulator, activation_url: str
) -> None:
    callback = await asyncio.to_thread(customer_fills_form, activation_url)
    params = parse_callback_url(callback, expected_app_id=APP_ID)
    opened = await open_card(
        client, auth_code=params.auth_code, template_id=params.template_id, request_id=params.request_id,
        card_values=CardValues(level="VIP1", point="50", balance="0", external_card_no="EXT-7"),
        clock=lambda: datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
    )  # fmt: skip
    assert opened.card.card_info.open_date == "2026-11-25 10:00:00"  # China time
    assert opened.card_no.startswith("LOTUS") and len(opened.card_no) == len("LOTUS") + 10
    assert opened.out_serial_no == derive_out_serial_no(params.template_id, params.request_id)
    assert opened.member.cell == MOBILE and opened.member.name == "李飞" and opened.member.gender == "FEMALE"
    assert MOBILE not in repr(opened)
    [card] = sim.inspect()["cards"]
    assert card["biz_card_no"] == opened.card_no and card["out_serial_no"] == opened.out_serial_no
    assert (card["level"], card["point"], card["balance"], card["external_card_no"]) == ("VIP1", "50", "0.00", "EXT-7")


async def test_the_auth_code_is_single_use_and_the_error_says_scan_again(
    client: AlipayClient, activation_url: str
) -> None:
    params = parse_callback_url(await asyncio.to_thread(customer_fills_form, activation_url))
    async def run() -> None:
        await open_card(client, auth_code=params.auth_code, template_id=params.template_id,
                        request_id=params.request_id, card_values=CardValues())  # fmt: skip

    await run()
    with pytest.raises(BusinessError) as caught:
        await run()
    assert caught.value.sub_code == "isv.code-invalid"
    assert caught.value.hint is not None and "scan the activation QR again" in caught.value.hint
    assert "an auth_code works once" in caught.value.hint


async def test_a_dropped_open_reply_explains_the_spent_auth_code_and_never_makes_a_second_card(
    client: AlipayClient, sim: GatewaySimulator, activation_url: str
) -> None:
    params = parse_callback_url(await asyncio.to_thread(customer_fills_form, activation_url))
    sim.set_faults(drop_rate=1.0, methods=["alipay.marketing.card.open"])
    with pytest.raises(UnknownOutcomeError) as caught:
        await open_card(client, auth_code=params.auth_code, template_id=params.template_id,
                        request_id=params.request_id, card_values=CardValues())  # fmt: skip
    hint = caught.value.hint or ""
    assert "single use" in hint and "scan the activation QR again" in hint
    assert derive_out_serial_no(params.template_id, params.request_id) in hint
    assert len(sim.inspect()["cards"]) == 1  # processed, reply dropped
    sim.set_faults()
    # The customer scans again: a new submission, and Alipay hands back the card they already hold.
    again = parse_callback_url(await asyncio.to_thread(customer_fills_form, activation_url))
    opened = await open_card(client, auth_code=again.auth_code, template_id=again.template_id,
                             request_id=again.request_id, card_values=CardValues())  # fmt: skip
    cards = sim.inspect()["cards"]
    assert len(cards) == 1 and cards[0]["biz_card_no"] == opened.card_no


async def test_a_level_the_template_does_not_know_is_a_business_failure(
    client: AlipayClient, activation_url: str
) -> None:
    params = parse_callback_url(await asyncio.to_thread(customer_fills_form, activation_url))
    with pytest.raises(BusinessError) as caught:
        await open_card(client, auth_code=params.auth_code, template_id=params.template_id,
                        request_id=params.request_id, card_values=CardValues(level="PLATINUM"))  # fmt: skip
    assert "single use" in (caught.value.hint or "")
