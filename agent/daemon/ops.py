"""ECR operations: validate the body (agent.ecr.fields), call the service, shape the answer.

Errors are ProtocolErrors. Every handler is registered through `guarded`: a full disk, wherever an op
writes (sales, members, outbox), answers STORAGE_FULL with what to do, never INTERNAL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from agent.codes import CodeClass
from agent.ecr import fields
from agent.ecr.messages import ErrorCode, ProtocolError, Request
from agent.ecr.server import Connection, Handler, Router
from agent.members.service import MemberService
from agent.sales.machine import SaleState
from agent.sales.service import PaymentService, SaleError
from agent.storage import is_storage_full
from drivers.printer import JobConflict, PrinterProfile, PrintJob, PrintQueue, Receipt, SlipError, receipt
from offline_queue import Outbox, OutboxError, State

from .devices import Devices, PrinterUnavailableError
from .member_ops import MemberOperations
from .views import print_job_view, sale_view

__all__ = ["Operations", "guarded", "print_job_view", "ready_printer", "sale_view"]

log = logging.getLogger(__name__)

STORAGE_FULL_MESSAGE = ("the store PC's disk is full: the agent could not record this request, so it did not act on"
                        " it. Free disk space where the agent keeps its state (default /var/lib/posagent; call the"
                        " technician), then send the same request again")  # fmt: skip


def guarded(handler: Handler) -> Handler:
    """The handler, with a full disk answered as STORAGE_FULL (the daemon carries on)."""

    @functools.wraps(handler)
    async def run(request: Request, connection: Connection) -> dict[str, Any]:
        try:
            return await handler(request, connection)
        except ProtocolError:
            raise
        except Exception as exc:
            if not is_storage_full(exc):
                raise
            log.error("op %s refused: the disk is full (%s)", request.op, exc)
            raise ProtocolError(ErrorCode.STORAGE_FULL, STORAGE_FULL_MESSAGE) from None

    return run


# Printer states that refuse a job before it is queued, and the ECR error code for each.
_PRINTER_REFUSALS = {
    "paper_end": (ErrorCode.PRINTER_PAPER_OUT, "the printer is out of paper"),
    "cover_open": (ErrorCode.PRINTER_COVER_OPEN, "the printer cover is open"),
    "offline": (ErrorCode.DEVICE_UNAVAILABLE, "the printer is offline"),
    "unavailable": (ErrorCode.DEVICE_UNAVAILABLE, "the printer does not answer"),
    "not_escpos": (ErrorCode.DEVICE_UNAVAILABLE, "not an ESC/POS printer at the configured address"),
}


def ready_printer(devices: Devices) -> tuple[PrintQueue, PrinterProfile]:
    """The printer's queue, or the ECR error that refuses a job before anything is queued."""
    try:
        queue, profile = devices.require_printer()
    except PrinterUnavailableError as exc:
        raise ProtocolError(ErrorCode.DEVICE_UNAVAILABLE, str(exc)) from None
    state = devices.printer_state()
    refusal = _PRINTER_REFUSALS.get(state["state"]) if state else None
    if refusal is not None:
        raise ProtocolError(*refusal)
    return queue, profile


def _sale_error(exc: SaleError) -> ProtocolError:
    return ProtocolError(ErrorCode(exc.code), exc.message)


class Operations:
    def __init__(self, *, payments: PaymentService, outbox: Outbox, devices: Devices,
                 status: Callable[[], dict[str, Any]], members: MemberService | None = None,
                 store_name: str = "") -> None:  # fmt: skip
        self.payments = payments
        self.outbox = outbox
        self.devices = devices
        self.status = status
        self.members = MemberOperations(members, devices, lambda: ready_printer(devices), store_name)

    def register(self, router: Router) -> None:
        handlers: dict[str, Handler] = {
            "status.get": self.status_get, "sale.start": self.sale_start, "sale.get": self.sale_get,
            "sale.cancel": self.sale_cancel, "outbox.list": self.outbox_list, "outbox.retry": self.outbox_retry,
            "print.qr": self.print_qr, "print.text": self.print_text, "drawer.open": self.drawer_open,
            **self.members.handlers(),
        }  # fmt: skip
        for op, handler in handlers.items():
            router.add(op, guarded(handler))

    def print_changed(self, job: PrintJob) -> None:
        """Every print job change, before its bytes go out: enrollment slips are recorded durably."""
        self.members.print_changed(job)

    async def status_get(self, request: Request, connection: Connection) -> dict[str, Any]:
        return self.status()

    # --- sales ----------------------------------------------------------------------------------

    async def sale_start(self, request: Request, connection: Connection) -> dict[str, Any]:
        body = request.body
        sale_id = fields.business_id(body, "sale_id")
        amount = fields.amount(body, "amount")
        subject = fields.text(body, "subject")
        scan_id = fields.optional_id(body, "scan_id")
        code = fields.digits(body, "code", max_len=64)
        store_id = fields.text(body, "store_id", required=False, max_len=32)
        operator_id = fields.text(body, "operator_id", required=False, max_len=28)
        member_card_no = fields.optional_id(body, "member_card_no", max_len=32)  # the card_no rule
        if scan_id and code:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "give scan_id or code, not both")
        existing = self.payments.get(sale_id)
        waiting = existing is None or existing.state is SaleState.WAITING_FOR_CODE
        if scan_id and waiting:
            code = self._payment_scan(scan_id)
            if code is None and existing is None:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no recent payment-code scan {scan_id} (or already used)")
        try:
            sale = self.payments.start(sale_id=sale_id, amount=amount, subject=subject or "", code=code,
                                       store_id=store_id, operator_id=operator_id,
                                       code_ref=f"scan:{scan_id}" if scan_id else None,
                                       member_card_no=member_card_no)  # fmt: skip
            if code is not None and sale.state is SaleState.WAITING_FOR_CODE:
                # The same request again while its sale still waits for a code (the first attempt could
                # not record the payment, e.g. a full disk): no trade exists yet, so pay it now.
                sale = self.payments.attach_code(sale_id, code)
        except SaleError as exc:
            raise _sale_error(exc) from None
        if scan_id and code is not None:
            self.devices.scans.take_payment_code(scan_id)  # used up only once a sale holds it
        return {"sale": sale_view(sale)}

    def _payment_scan(self, scan_id: str) -> str | None:
        scan = self.devices.scans.get(scan_id)
        if scan is None or scan.classification.kind is not CodeClass.ALIPAY_PAYMENT:
            return None
        return scan.code

    async def sale_get(self, request: Request, connection: Connection) -> dict[str, Any]:
        sale = self.payments.get(fields.business_id(request.body, "sale_id"))
        if sale is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such sale")
        return {"sale": sale_view(sale)}

    async def sale_cancel(self, request: Request, connection: Connection) -> dict[str, Any]:
        try:
            sale = self.payments.cancel(fields.business_id(request.body, "sale_id"))
        except SaleError as exc:
            raise _sale_error(exc) from None
        return {"sale": sale_view(sale)}

    # --- the outbox -----------------------------------------------------------------------------

    async def outbox_list(self, request: Request, connection: Connection) -> dict[str, Any]:
        state_name = request.body.get("state")
        states = {s.value: s for s in State}
        if state_name is not None and (not isinstance(state_name, str) or state_name not in states):
            raise fields.bad("state", f"one of {', '.join(states)}")
        state = states[state_name] if state_name is not None else None
        limit = fields.integer(request.body, "limit", minimum=1, maximum=500, default=50)
        jobs = await asyncio.to_thread(self.outbox.list, state=state, limit=limit)
        return {"jobs": [{"id": j.id, "kind": j.kind, "state": j.state.value, "attempts": j.attempts,
                          "last_error": j.last_error, "created_at": j.created_at} for j in jobs]}  # fmt: skip

    async def outbox_retry(self, request: Request, connection: Connection) -> dict[str, Any]:
        job_id = fields.integer(request.body, "id", minimum=1, maximum=fields.MAX_JOB_NUMBER)
        try:
            count = await asyncio.to_thread(self.outbox.retry, ids=[job_id])
        except OutboxError as exc:
            raise ProtocolError(ErrorCode.NOT_FOUND, str(exc)) from None
        if count == 0:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"job {job_id} is not dead")
        return {"retried": count}

    # --- printing -------------------------------------------------------------------------------

    async def _print(self, job_id: str, slip: Receipt, kind: str) -> dict[str, Any]:
        queue, profile = ready_printer(self.devices)
        try:
            data = receipt(slip, profile)
        except SlipError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc)) from None
        try:
            job = queue.submit(data, job_id=job_id, kind=kind)
            self.devices.remember_slip(job_id, slip)
        except JobConflict:
            conflict = f"print job {job_id} exists with other content"
            raise ProtocolError(ErrorCode.IDEMPOTENCY_CONFLICT, conflict) from None
        return {"job": print_job_view(job)}

    async def print_qr(self, request: Request, connection: Connection) -> dict[str, Any]:
        body = request.body
        job_id = fields.business_id(body, "job_id")
        slip = Receipt(title=fields.text(body, "title", required=False, max_len=64) or "",
                       qr=fields.payload(body, "data", max_len=2000), lines=fields.lines(body, "lines", required=False),
                       cut=fields.boolean(body, "cut", default=True))  # fmt: skip
        return await self._print(job_id, slip, "qr")

    async def print_text(self, request: Request, connection: Connection) -> dict[str, Any]:
        body = request.body
        job_id = fields.business_id(body, "job_id")
        slip = Receipt(lines=fields.lines(body, "lines", required=True), cut=fields.boolean(body, "cut", default=True))
        return await self._print(job_id, slip, "text")

    async def drawer_open(self, request: Request, connection: Connection) -> dict[str, Any]:
        ready_printer(self.devices)
        job = await self.devices.open_drawer()
        if job.state.value == "failed":
            raise ProtocolError(ErrorCode.DEVICE_UNAVAILABLE, job.reason or "the drawer pulse was not sent")
        return {"opened": job.state.value == "printed"}
