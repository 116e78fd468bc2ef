"""The member card of a sale: named by the till on sale.start (it stays), or scanned during the sale
(the last scan is the sale's). docs/ecr-protocol.md, `sale.start`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agent.alipay import AlipayClient
from agent.sales.service import PaymentService, PaymentSettings, SaleError, request_fingerprint
from agent.sales.store import SaleStore

SETTINGS = PaymentSettings(store_id="SH01", till_id="T1")


class NoReversals:
    async def enqueue_cancel(self, *, sale_id: str, out_trade_no: str) -> None:
        raise AssertionError("no trade in these tests")


@pytest.fixture
def service(tmp_path: Path, alipay_client: AlipayClient) -> PaymentService:
    return PaymentService(alipay_client, SaleStore(tmp_path / "agent.db"), NoReversals(), SETTINGS)


def test_the_card_the_till_names_is_the_sales_and_a_scan_does_not_replace_it(service: PaymentService) -> None:
    sale = service.start(sale_id="m1", amount="9.90", subject="Till 1", member_card_no="LOTUS0000000001")
    assert (sale.member_card_no, sale.member_card_source) == ("LOTUS0000000001", "till")
    service.attach_member("m1", "LOTUS0000000002")  # the scanner read another card during the sale
    stored = service.get("m1")
    assert stored is not None
    assert (stored.member_card_no, stored.member_card_source) == ("LOTUS0000000001", "till")


def test_without_one_the_last_card_scanned_during_the_sale_is_the_sales(service: PaymentService) -> None:
    service.start(sale_id="m2", amount="9.90", subject="Till 1")
    service.attach_member("m2", "LOTUS0000000001")
    sale = service.attach_member("m2", "LOTUS0000000002")  # the cashier scanned the right card after a wrong one
    assert (sale.member_card_no, sale.member_card_source) == ("LOTUS0000000002", "scanner")


def test_a_resend_names_the_same_card_or_conflicts(service: PaymentService) -> None:
    first = service.start(sale_id="m3", amount="9.90", subject="Till 1", member_card_no="LOTUS0000000001")
    again = service.start(sale_id="m3", amount="9.90", subject="Till 1", member_card_no="LOTUS0000000001")
    assert again == first
    for other in ("LOTUS0000000002", None):
        with pytest.raises(SaleError) as conflict:
            service.start(sale_id="m3", amount="9.90", subject="Till 1", member_card_no=other)
        assert conflict.value.code == "IDEMPOTENCY_CONFLICT"


def test_sales_recorded_before_the_field_keep_their_fingerprint() -> None:
    # A resend after an upgrade must not conflict with the sale its first attempt recorded.
    before = hashlib.sha256(json.dumps(["9.90", "Till 1", None, None, None]).encode()).hexdigest()
    assert request_fingerprint("9.90", "Till 1", None, None, None) == before
