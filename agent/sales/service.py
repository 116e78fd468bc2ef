"""The payment service: drives each sale through the state machine with real calls.

One asyncio task per open sale. Each new state is saved before the call it leads to; after a
restart, `resume()` picks up every sale whose trade may be open and drives it to an end (query, then
cancel at the deadline). A cancel that cannot be delivered is handed to the durable outbox via
`ReversalQueue`; its confirmation comes back through `reversal_confirmed()`.

Payment codes are secrets: they live only in memory for the one trade.pay call that uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from agent.alipay import AlipayClient, AlipayError, BusinessError, ConfigurationError, GatewayUnreachableError
from agent.alipay.apis import TradeCancel, TradePay, TradeQuery, normalise_amount

from . import machine as m
from .machine import QueryOutcome, Sale, SaleState
from .store import SaleStore

log = logging.getLogger(__name__)

CANCEL_RETRY_FLAG_ATTEMPTS = 3
CANCEL_RETRY_DELAY_SECONDS = 2.0  # the official F2F demo waits 2 s between cancels with retry_flag=Y
# A sale whose driving failed on a bug is driven again after this (doubling up to the maximum), never
# left in an open state until the next restart.
REDRIVE_FIRST_DELAY_SECONDS = 1.0
REDRIVE_MAX_DELAY_SECONDS = 60.0


class ReversalQueue(Protocol):
    async def enqueue_cancel(self, *, sale_id: str, out_trade_no: str) -> None:
        """Durably queue trade.cancel for out_trade_no; the outbox retries until Alipay confirms."""


class SaleError(Exception):
    """A sale request the service refuses; `code` is the ECR error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PaymentSettings:
    store_id: str
    till_id: str
    deadline_seconds: float = m.DEFAULT_PAY_DEADLINE_SECONDS
    query_interval: float = m.QUERY_INTERVAL_SECONDS
    pay_timeout_seconds: float = 15.0


def request_fingerprint(amount: str, subject: str, code: str | None, store_id: str | None,
                        operator_id: str | None, *, member_card_no: str | None = None) -> str:  # fmt: skip
    """Same sale_id + same request = same sale; the code is hashed, never stored."""
    parts: list[str | None] = [amount, subject, code, store_id, operator_id]
    if member_card_no is not None:  # appended only when given: sales recorded before it keep their fingerprint
        parts.append(member_card_no)
    canonical = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class PaymentService:
    def __init__(
        self,
        client: AlipayClient,
        store: SaleStore,
        reversals: ReversalQueue,
        settings: PaymentSettings,
        *,
        online: Callable[[], bool] = lambda: True,
        on_change: Callable[[Sale], None] = lambda sale: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.reversals = reversals
        self.settings = settings
        self.online = online
        self.on_change = on_change
        self.clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._codes: dict[str, str] = {}

    # --- ECR operations -------------------------------------------------------------------------

    def get(self, sale_id: str) -> Sale | None:
        found = self.store.get(sale_id)
        return None if found is None else found[0]

    def start(self, *, sale_id: str, amount: str, subject: str, code: str | None = None, store_id: str | None = None,
              operator_id: str | None = None, code_ref: str | None = None,
              member_card_no: str | None = None) -> Sale:  # fmt: skip
        """`code_ref` stands for the code in the idempotency check when the ECR named a scan, not a code.
        `member_card_no`: a member card the till read itself; it stays the sale's (see `attach_member`)."""
        try:
            amount = normalise_amount(amount)
        except ValueError as exc:
            raise SaleError("BAD_REQUEST", str(exc)) from None
        if not subject or len(subject) > 256 or any(c in subject for c in "/=&"):
            raise SaleError("BAD_REQUEST", "subject must be 1-256 characters without / = &")
        fingerprint = request_fingerprint(amount, subject, code_ref or code, store_id, operator_id,
                                          member_card_no=member_card_no)  # fmt: skip
        existing = self.store.get(sale_id)
        if existing is not None:
            sale, known = existing
            if known != fingerprint:
                raise SaleError("IDEMPOTENCY_CONFLICT", f"sale {sale_id} exists with different details")
            return sale
        if not self.online():
            raise SaleError("NETWORK_UNAVAILABLE", "Alipay is unreachable: take another payment method")
        active = self.blocking()
        if active:
            raise SaleError("BUSY", f"sale {active[0].sale_id} is still active on this till")
        sale = Sale(sale_id=sale_id, amount=amount, subject=subject, state=SaleState.WAITING_FOR_CODE,
                    created_at=self.clock(), store_id=store_id, operator_id=operator_id,
                    member_card_no=member_card_no, member_card_source="till" if member_card_no else None)  # fmt: skip
        self.store.insert(sale, fingerprint)
        self._changed(sale)
        if code is not None:
            return self.attach_code(sale_id, code)
        return sale

    def attach_code(self, sale_id: str, code: str) -> Sale:
        """The customer's payment code arrived (with sale.start, or scanned afterwards)."""
        sale = self._require(sale_id)
        if sale.state is not SaleState.WAITING_FOR_CODE:
            raise SaleError("ALREADY_FINAL" if sale.final else "BUSY", f"sale {sale_id} is {sale.state.value}")
        if not self.online():
            raise SaleError("NETWORK_UNAVAILABLE", "Alipay is unreachable: take another payment method")
        sale = m.begin_payment(sale, store_id=self.settings.store_id, till_id=self.settings.till_id,
                               now=self.clock(), deadline_seconds=self.settings.deadline_seconds)  # fmt: skip
        self._save(sale)  # before trade.pay: after a crash we know a trade may exist
        self._codes[sale_id] = code
        self._drive(sale)
        return sale

    def cancel(self, sale_id: str) -> Sale:
        sale = self._require(sale_id)
        if sale.final:
            raise SaleError("ALREADY_FINAL", f"sale {sale_id} is already {sale.state.value}")
        sale = m.cancel_requested(sale)
        self._save(sale)
        if sale_id in self._wake:
            self._wake[sale_id].set()
        elif not sale.final:
            self._drive(sale)
        return sale

    def attach_member(self, sale_id: str, card_no: str) -> Sale:
        """A member card scanned during the sale: the ECR sees it in sale.updated and updates points.

        The card the till named on sale.start stays: the till read it and decided (the scan still
        reaches the ECR as a `scan` event). Otherwise the last card scanned during the sale is the
        sale's: a cashier who scanned the wrong card scans the right one."""
        sale = self._require(sale_id)
        if sale.final:
            raise SaleError("ALREADY_FINAL", f"sale {sale_id} is already {sale.state.value}")
        if sale.member_card_source == "till" or sale.member_card_no == card_no:
            return sale
        sale = replace(sale, member_card_no=card_no, member_card_source="scanner")
        self._save(sale)
        return sale

    def blocking(self) -> list[Sale]:
        """The sales that keep the till busy. A sale being reversed does not: its outcome is decided (no
        money is kept) and the agent finishes the reversal on its own, even across an outage."""
        return [sale for sale in self.store.active() if sale.state is not SaleState.REVERSING]

    def network_changed(self, online: bool) -> None:
        """Alipay judged unreachable: sales waiting on a query decide now instead of at their next poll."""
        if not online:
            for wake in self._wake.values():
                wake.set()

    def reversal_confirmed(self, sale_id: str, action: str | None) -> None:
        """The outbox delivered the cancel: the sale ends."""
        sale = self._require(sale_id)
        if sale.state is SaleState.REVERSING:
            self._save(m.reversed_(sale, action))

    # --- lifecycle ------------------------------------------------------------------------------

    def resume(self) -> int:
        """After a restart: drive every sale whose trade may be open to an end."""
        count = 0
        for sale in self.store.with_open_trades():
            if sale.sale_id not in self._tasks:
                log.info("resuming sale %s in state %s", sale.sale_id, sale.state.value)
                self._drive(sale)
                count += 1
        return count

    async def close(self) -> None:
        """Stop driving: every state is already persisted, `resume()` continues after a restart."""
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._codes.clear()

    async def wait(self, sale_id: str) -> Sale:
        task = self._tasks.get(sale_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        return self._require(sale_id)

    # --- driving --------------------------------------------------------------------------------

    def _require(self, sale_id: str) -> Sale:
        sale = self.get(sale_id)
        if sale is None:
            raise SaleError("NOT_FOUND", f"no sale {sale_id}")
        return sale

    def _changed(self, sale: Sale) -> None:
        try:
            self.on_change(sale)
        except Exception:
            log.exception("sale change callback failed")

    def _save(self, sale: Sale) -> None:
        self.store.save(sale, self.clock())
        self._changed(sale)

    def _drive(self, sale: Sale) -> None:
        self._wake[sale.sale_id] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(sale), name=f"sale {sale.sale_id}")
        self._tasks[sale.sale_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(sale.sale_id, None)
            self._wake.pop(sale.sale_id, None)
            self._codes.pop(sale.sale_id, None)

        task.add_done_callback(done)

    async def _run(self, sale: Sale) -> None:
        delay = REDRIVE_FIRST_DELAY_SECONDS
        while True:
            try:
                await self._advance(sale)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never leave a trade open on a bug (or a full disk): drive the stored state again soon.
                log.exception("sale %s: unexpected error; driving it again in %.0f s", sale.sale_id, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, REDRIVE_MAX_DELAY_SECONDS)
            sale = self.get(sale.sale_id) or sale
            if sale.final:
                return

    async def _advance(self, sale: Sale) -> None:
        if sale.state is SaleState.PAYING:
            code = self._codes.pop(sale.sale_id, None)
            # Without the code (a restart, or a failure after trade.pay was attempted) only a query can tell.
            sale = await self._pay(sale, code) if code else self._unknown(sale, "pay outcome unknown: querying")
        while sale.state is SaleState.WAITING_BUYER:
            sale = await self._poll_once(sale)
        if sale.state is SaleState.REVERSING:
            await self._reverse(sale)

    def _unknown(self, sale: Sale, note: str) -> Sale:
        sale = m.waiting_for_buyer(sale, self.clock(), note=note, interval=0.0)
        self._save(sale)
        return sale

    async def _pay(self, sale: Sale, code: str) -> Sale:
        assert sale.out_trade_no is not None
        request = TradePay(out_trade_no=sale.out_trade_no, auth_code=code, subject=sale.subject,
                           total_amount=sale.amount, store_id=sale.store_id, operator_id=sale.operator_id,
                           terminal_id=self.settings.till_id)  # fmt: skip
        error: Exception | None = None
        try:
            result = await self.client.execute(request)
        except Exception as exc:  # an AlipayError, or a bug: either way trade.pay may have been sent
            error = exc
        # The ECR may have asked to cancel while trade.pay was in flight: decide on the stored sale.
        sale = self.get(sale.sale_id) or sale
        if isinstance(error, GatewayUnreachableError):
            # Provably never left this PC (no connection was made): nothing to reverse.
            sale = m.declined(sale, "NETWORK_UNAVAILABLE", "Alipay is unreachable: take another payment method")
        elif isinstance(error, BusinessError):
            sale = m.declined(sale, error.sub_code, m.decline_reason(error.sub_code, error.sub_msg))
        elif isinstance(error, ConfigurationError):
            sale = m.declined(sale, error.sub_code, "the agent's Alipay set-up is wrong: call the technician")
            log.error("trade.pay refused for a set-up problem: %s", error)
        elif error is not None:
            # 5xx from a proxy, a reset or timeout after sending, a garbled or hostile reply, 20000: Alipay
            # may have taken the money. Only a query (then a cancel) can end this sale truthfully.
            kind = error.kind if isinstance(error, AlipayError) else type(error).__name__
            return self._unknown(sale, f"pay outcome unknown ({kind}): querying")
        elif result.in_process:
            sale = m.waiting_for_buyer(sale, self.clock(), result.trade_no, "buyer confirming on the phone",
                                       interval=self.settings.query_interval)  # fmt: skip
        else:
            sale = m.paid(sale, result.trade_no)
        self._save(sale)
        return sale

    async def _poll_once(self, sale: Sale) -> Sale:
        assert sale.out_trade_no is not None
        wake = self._wake.get(sale.sale_id)
        delay = max(0.0, (sale.next_query_at or 0.0) - self.clock())
        if wake is not None and delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
            wake.clear()
        fresh = self.get(sale.sale_id)  # an ECR cancel may have been recorded meanwhile
        sale = fresh if fresh is not None else sale
        status: str | None = None
        trade_no: str | None = None
        outcome = QueryOutcome.ANSWERED
        try:
            answer = await self.client.execute(TradeQuery(out_trade_no=sale.out_trade_no))
            status, trade_no = answer.trade_status, answer.trade_no
        except BusinessError as exc:  # e.g. ACQ.TRADE_NOT_EXIST: Alipay answered, the trade is not there (yet)
            log.info("sale %s: trade.query answered %s; trying again", sale.sale_id, exc.sub_code or exc.code)
        except Exception as exc:  # no verified answer (or a bug): the trade may be open
            outcome = QueryOutcome.NO_ANSWER if self.online() else QueryOutcome.UNREACHABLE
            kind = exc.kind if isinstance(exc, AlipayError) else type(exc).__name__
            log.info("sale %s: trade.query gave %s (%s)", sale.sale_id, kind, outcome.value)
        sale = self.get(sale.sale_id) or sale  # an ECR cancel may have been recorded during the query
        sale = m.after_query(sale, status, self.clock(), trade_no, interval=self.settings.query_interval,
                             outcome=outcome)  # fmt: skip
        self._save(sale)
        return sale

    async def _reverse(self, sale: Sale) -> None:
        assert sale.out_trade_no is not None
        for attempt in range(CANCEL_RETRY_FLAG_ATTEMPTS):
            if not self.online():
                log.warning("sale %s: Alipay unreachable; the cancel waits in the outbox", sale.sale_id)
                break
            try:
                result = await self.client.execute(TradeCancel(out_trade_no=sale.out_trade_no))
            except Exception as exc:  # not confirmed, whatever happened: the outbox retries until it is
                kind = exc.kind if isinstance(exc, AlipayError) else type(exc).__name__
                log.warning("sale %s: trade.cancel not confirmed (%s); handing it to the outbox", sale.sale_id,
                            kind)  # fmt: skip
                break
            if not result.should_retry:
                self._save(m.reversed_(sale, result.action))
                return
            if attempt + 1 < CANCEL_RETRY_FLAG_ATTEMPTS:
                await asyncio.sleep(CANCEL_RETRY_DELAY_SECONDS)
        await self.reversals.enqueue_cancel(sale_id=sale.sale_id, out_trade_no=sale.out_trade_no)
