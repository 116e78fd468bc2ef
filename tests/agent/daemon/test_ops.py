"""The ops' shell: a full disk, wherever an op writes, is STORAGE_FULL with what to do; anything else
keeps its own answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from agent.alipay import AlipayClient
from agent.daemon.ops import Operations, guarded, ready_printer
from agent.ecr.messages import ErrorCode, ProtocolError, Request
from agent.ecr.server import Connection, Router
from agent.sales.machine import Sale, SaleState
from agent.sales.service import PaymentService, PaymentSettings
from agent.sales.store import SaleStore
from agent.storage import open_database
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.gateway import Store

REQUEST = Request("r1", "loyalty.update", {})


def sqlite_full(tmp_path: Path) -> sqlite3.OperationalError:
    db = open_database(tmp_path / "capped.db", "CREATE TABLE IF NOT EXISTS t (x TEXT);")
    db.execute("PRAGMA max_page_count = 8")  # SQLite's own SQLITE_FULL, as on a full disk
    try:
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("never filled up")


async def answer_of(error: BaseException) -> dict[str, Any]:
    async def failing(request: Request, connection: Connection) -> dict[str, Any]:
        raise error

    router = Router()
    router.add("loyalty.update", guarded(failing))
    return cast(dict[str, Any], json.loads(await router.dispatch(REQUEST, Connection("test"))))


async def test_sqlite_full_is_storage_full_not_internal(tmp_path: Path) -> None:
    error = (await answer_of(sqlite_full(tmp_path)))["error"]
    assert (error["code"], error["retryable"]) == ("STORAGE_FULL", True)
    assert "disk is full" in error["message"] and "send the same request again" in error["message"]


async def test_enospc_from_a_file_write_is_storage_full() -> None:
    error = (await answer_of(OSError(28, "No space left on device")))["error"]
    assert error["code"] == "STORAGE_FULL"


@pytest.mark.parametrize(
    ("raised", "code"),
    [(ProtocolError(ErrorCode.BUSY, "busy"), "BUSY"), (sqlite3.OperationalError("database is locked"), "INTERNAL"),
     (RuntimeError("a bug"), "INTERNAL")],
)  # fmt: skip
async def test_other_failures_keep_their_answer(raised: BaseException, code: str) -> None:
    assert (await answer_of(raised))["error"]["code"] == code


def test_every_op_is_guarded() -> None:
    router = Router()
    ops = Operations(payments=cast(Any, None), outbox=cast(Any, None), devices=cast(Any, None), status=dict)
    ops.register(router)
    handlers = router._handlers  # the registered callables themselves
    assert handlers and all(getattr(h, "__wrapped__", None) is not None for h in handlers.values())


class FillingSaleStore(SaleStore):
    """The disk fills up just as the sale's `paying` state is to be saved (its row was inserted)."""

    def __init__(self, path: Path, full: sqlite3.OperationalError) -> None:
        super().__init__(path)
        self.full: sqlite3.OperationalError | None = full

    def save(self, sale: Sale, now: float) -> None:
        if self.full is not None:
            full, self.full = self.full, None
            raise full
        super().save(sale, now)


class NoReversals:
    async def enqueue_cancel(self, *, sale_id: str, out_trade_no: str) -> None:
        raise AssertionError("nothing to reverse")


async def test_a_resend_after_storage_full_pays_the_sale_that_still_waits(tmp_path: Path, alipay_client: AlipayClient,
                                                                          simulated_gateway: Store) -> None:  # fmt: skip
    payments = PaymentService(alipay_client, FillingSaleStore(tmp_path / "agent.db", sqlite_full(tmp_path)),
                              NoReversals(), PaymentSettings(store_id="SH01", till_id="T1"))  # fmt: skip
    router = Router()
    Operations(payments=payments, outbox=cast(Any, None), devices=cast(Any, None), status=dict).register(router)
    body = {"sale_id": "S1", "amount": "5", "subject": "Till 1", "code": example(Behaviour.PAID)}

    async def start() -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(await router.dispatch(Request("r", "sale.start", body), Connection("t"))))

    assert (await start())["error"]["code"] == "STORAGE_FULL"
    assert payments.get("S1") is not None and simulated_gateway.gateway.inspect()["trades"] == []
    assert (await start())["body"]["sale"]["state"] == "paying"  # the same request again, once there is space
    assert (await payments.wait("S1")).state is SaleState.SUCCEEDED
    assert len(simulated_gateway.gateway.inspect()["trades"]) == 1


class PrinterAt:
    """The part of Devices that `ready_printer` asks: a configured printer in `state`."""

    def __init__(self, state: str) -> None:
        self.state = state

    def require_printer(self) -> tuple[Any, Any]:
        return object(), object()

    def printer_state(self) -> dict[str, Any]:
        return {"device": "printer", "kind": "printer", "state": self.state, "detail": ""}


def test_a_print_request_for_an_address_that_is_not_an_escpos_printer_is_refused_before_queueing() -> None:
    with pytest.raises(ProtocolError) as caught:
        ready_printer(cast(Any, PrinterAt("not_escpos")))
    assert caught.value.code is ErrorCode.DEVICE_UNAVAILABLE
    assert "not an ESC/POS printer" in str(caught.value)
