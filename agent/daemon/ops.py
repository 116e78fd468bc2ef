"""ECR operations: validate the body, call the service, shape the answer. Errors are ProtocolErrors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from agent.ecr.messages import ErrorCode, ProtocolError, Request
from agent.ecr.server import Connection, Router
from agent.members.open_card import CallbackError
from agent.members.service import MemberError, MemberService
from agent.sales.machine import Sale
from agent.sales.service import PaymentService, SaleError
from drivers.printer import (
    ActivationSlip,
    JobConflict,
    PrinterProfile,
    PrintJob,
    PrintQueue,
    Receipt,
    SlipError,
    activation_slip,
    receipt,
)
from offline_queue import IdempotencyConflict, Outbox, OutboxError, State

from .devices import Devices, PrinterUnavailableError

_BUSINESS_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def text(body: dict[str, Any], name: str, *, required: bool = True, max_len: int = 256,
         pattern: re.Pattern[str] | None = None) -> str | None:  # fmt: skip
    value = body.get(name)
    if value is None:
        if required:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} must be a string of 1-{max_len} characters")
    if pattern is not None and not pattern.match(value):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} has invalid characters (letters, digits, _ . : -)")
    return value


def business_id(body: dict[str, Any], name: str) -> str:
    value = text(body, name, max_len=64, pattern=_BUSINESS_ID)
    assert value is not None
    return value


def sale_view(sale: Sale) -> dict[str, Any]:
    return {
        "sale_id": sale.sale_id, "state": sale.state.value, "final": sale.final, "amount": sale.amount,
        "subject": sale.subject, "attempt": sale.attempt, "out_trade_no": sale.out_trade_no,
        "trade_no": sale.trade_no, "reason": sale.reason, "sub_code": sale.sub_code, "refunded": sale.refunded,
        "member_card_no": sale.member_card_no,
    }  # fmt: skip


def print_job_view(job: PrintJob) -> dict[str, Any]:
    return {"job_id": job.id, "kind": job.kind, "state": job.state.value, "reason": job.reason,
            "error_code": job.error_code, "bytes_sent": job.bytes_sent, "any_sent": job.any_sent}  # fmt: skip


# Printer states that refuse a job before it is queued, and the ECR error code for each.
_PRINTER_REFUSALS = {
    "paper_end": (ErrorCode.PRINTER_PAPER_OUT, "the printer is out of paper"),
    "cover_open": (ErrorCode.PRINTER_COVER_OPEN, "the printer cover is open"),
    "offline": (ErrorCode.DEVICE_UNAVAILABLE, "the printer is offline"),
    "unavailable": (ErrorCode.DEVICE_UNAVAILABLE, "the printer does not answer"),
}


def lines_field(body: dict[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
    value = body.get(name)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 200:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} must be a list of at most 200 strings")
    if any(len(v) > 500 for v in value):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name}: a line is longer than 500 characters")
    return tuple(value)


class Operations:
    def __init__(self, *, payments: PaymentService, outbox: Outbox, devices: Devices,
                 status: Callable[[], dict[str, Any]], members: MemberService | None = None,
                 store_name: str = "") -> None:  # fmt: skip
        self.members = members
        self.store_name = store_name
        self.payments = payments
        self.outbox = outbox
        self.devices = devices
        self.status = status

    def register(self, router: Router) -> None:
        router.add("status.get", self.status_get)
        router.add("sale.start", self.sale_start)
        router.add("sale.get", self.sale_get)
        router.add("sale.cancel", self.sale_cancel)
        router.add("outbox.list", self.outbox_list)
        router.add("outbox.retry", self.outbox_retry)
        router.add("print.qr", self.print_qr)
        router.add("print.text", self.print_text)
        router.add("drawer.open", self.drawer_open)
        router.add("member.enroll", self.member_enroll)
        router.add("member.open", self.member_open)
        router.add("member.lookup", self.member_lookup)
        router.add("loyalty.update", self.loyalty_update)

    async def status_get(self, request: Request, connection: Connection) -> dict[str, Any]:
        return self.status()

    async def sale_start(self, request: Request, connection: Connection) -> dict[str, Any]:
        body = request.body
        sale_id = business_id(body, "sale_id")
        amount = text(body, "amount", max_len=20)
        subject = text(body, "subject")
        scan_id = text(body, "scan_id", required=False, max_len=64)
        code = text(body, "code", required=False, max_len=64)
        if scan_id and code:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "give scan_id or code, not both")
        if scan_id and self.payments.get(sale_id) is None:
            # A scan pays once: take it only for a new sale (a resend is matched by its scan_id).
            code = self.devices.scans.take_payment_code(scan_id)
            if code is None:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no recent payment-code scan {scan_id}")
        if code is not None and not code.isdigit():
            raise ProtocolError(ErrorCode.BAD_REQUEST, "code must be the digits of a payment code")
        try:
            sale = self.payments.start(
                sale_id=sale_id, amount=amount or "", subject=subject or "", code=code,
                store_id=text(body, "store_id", required=False, max_len=32),
                operator_id=text(body, "operator_id", required=False, max_len=28),
                code_ref=f"scan:{scan_id}" if scan_id else None,
            )  # fmt: skip
        except SaleError as exc:
            raise ProtocolError(ErrorCode(exc.code), exc.message) from None
        return {"sale": sale_view(sale)}

    async def sale_get(self, request: Request, connection: Connection) -> dict[str, Any]:
        sale = self.payments.get(business_id(request.body, "sale_id"))
        if sale is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such sale")
        return {"sale": sale_view(sale)}

    async def sale_cancel(self, request: Request, connection: Connection) -> dict[str, Any]:
        try:
            sale = self.payments.cancel(business_id(request.body, "sale_id"))
        except SaleError as exc:
            raise ProtocolError(ErrorCode(exc.code), exc.message) from None
        return {"sale": sale_view(sale)}

    async def outbox_list(self, request: Request, connection: Connection) -> dict[str, Any]:
        state_name = text(request.body, "state", required=False, max_len=16)
        try:
            state = State(state_name) if state_name else None
        except ValueError:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"unknown state {state_name!r}") from None
        limit = request.body.get("limit", 50)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "limit must be an integer 1-500")
        jobs = await asyncio.to_thread(self.outbox.list, state=state, limit=limit)
        return {"jobs": [{"id": j.id, "kind": j.kind, "state": j.state.value, "attempts": j.attempts,
                          "last_error": j.last_error, "created_at": j.created_at} for j in jobs]}  # fmt: skip

    async def outbox_retry(self, request: Request, connection: Connection) -> dict[str, Any]:
        job_id = request.body.get("id")
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "id must be a job id (integer)")
        try:
            count = await asyncio.to_thread(self.outbox.retry, ids=[job_id])
        except OutboxError as exc:
            raise ProtocolError(ErrorCode.NOT_FOUND, str(exc)) from None
        if count == 0:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"job {job_id} is not dead")
        return {"retried": count}

    # --- printing -------------------------------------------------------------------------------

    def _printer(self) -> tuple[PrintQueue, PrinterProfile]:
        try:
            queue, profile = self.devices.require_printer()
        except PrinterUnavailableError as exc:
            raise ProtocolError(ErrorCode.DEVICE_UNAVAILABLE, str(exc)) from None
        state = self.devices.printer_state()
        refusal = _PRINTER_REFUSALS.get(state["state"]) if state else None
        if refusal is not None:
            raise ProtocolError(*refusal)
        return queue, profile

    async def _print(self, request: Request, slip: Receipt, kind: str) -> dict[str, Any]:
        job_id = business_id(request.body, "job_id")
        queue, profile = self._printer()
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
        data = text(body, "data", max_len=2000)
        cut = body.get("cut", True)
        if not isinstance(cut, bool):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "cut must be true or false")
        slip = Receipt(title=text(body, "title", required=False, max_len=64) or "", qr=data or "",
                       lines=lines_field(body, "lines", required=False), cut=cut)  # fmt: skip
        return await self._print(request, slip, "qr")

    async def print_text(self, request: Request, connection: Connection) -> dict[str, Any]:
        body = request.body
        cut = body.get("cut", True)
        if not isinstance(cut, bool):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "cut must be true or false")
        slip = Receipt(lines=lines_field(body, "lines", required=True), cut=cut)
        return await self._print(request, slip, "text")

    async def drawer_open(self, request: Request, connection: Connection) -> dict[str, Any]:
        self._printer()
        job = await self.devices.open_drawer()
        if job.state.value == "failed":
            raise ProtocolError(ErrorCode.DEVICE_UNAVAILABLE, job.reason or "the drawer pulse was not sent")
        return {"opened": job.state.value == "printed"}

    # --- membership cards -----------------------------------------------------------------------

    def _members(self) -> MemberService:
        if self.members is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "membership cards are not configured on this agent ([members])")
        return self.members

    async def member_enroll(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        job_id = business_id(request.body, "job_id")
        external = text(request.body, "external_card_no", required=False, max_len=64, pattern=_BUSINESS_ID)
        queue, profile = self._printer()
        print_job_id = f"enroll-{job_id}"
        try:
            enrollment, url = await members.enroll(job_id, external_card_no=external, print_job_id=print_job_id)
        except MemberError as exc:
            raise ProtocolError(ErrorCode(exc.code), exc.message) from None
        try:
            wanted = ActivationSlip(store_name=self.store_name or "Membership card", url=url)
            job = queue.submit(activation_slip(wanted, profile), job_id=print_job_id, kind="activation")
            self.devices.remember_slip(print_job_id, wanted)
        except SlipError as exc:
            raise ProtocolError(ErrorCode.INTERNAL, f"the activation slip cannot be built: {exc}") from None
        except JobConflict:
            job = queue.get(print_job_id)  # type: ignore[assignment]  # reprinted URL after a refresh: same job
        return {"enrollment": {"job_id": enrollment.job_id, "template_id": enrollment.template_id,
                               "out_string": enrollment.out_string, "card_no": enrollment.card_no},
                "job": print_job_view(job)}  # fmt: skip

    async def member_open(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        params = dict(request.body)
        try:
            job = await asyncio.to_thread(members.accept_callback, params)
        except CallbackError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc)) from None
        except OutboxError as exc:
            raise ProtocolError(ErrorCode.OUTBOX_FULL, str(exc)) from None
        return {"open": {"id": job.id, "state": job.state.value}}

    async def member_lookup(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        scan_id = text(request.body, "scan_id", required=False, max_len=64)
        card_no = text(request.body, "card_no", required=False, max_len=32, pattern=_BUSINESS_ID)
        if bool(scan_id) == bool(card_no):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "give scan_id or card_no")
        if scan_id:
            scan = self.devices.scans.get(scan_id)
            if scan is None or scan.classification.kind.value != "member_card":
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no recent member-card scan {scan_id}")
            card_no = scan.code
        assert card_no is not None
        try:
            return await members.lookup(card_no)
        except MemberError as exc:
            raise ProtocolError(ErrorCode(exc.code), exc.message) from None

    async def loyalty_update(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        try:
            job = await asyncio.to_thread(members.loyalty_update, request.body)
        except MemberError as exc:
            raise ProtocolError(ErrorCode(exc.code), exc.message) from None
        except IdempotencyConflict:
            raise ProtocolError(ErrorCode.IDEMPOTENCY_CONFLICT, "update_id exists with other values") from None
        except OutboxError as exc:
            raise ProtocolError(ErrorCode.OUTBOX_FULL, str(exc)) from None
        # superseded: an update with a later business time already went out; this one never will.
        return {"update": {"update_id": request.body.get("update_id"), "state": job.state.value}}
