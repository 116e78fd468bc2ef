"""ECR membership operations: member.enroll, member.open, member.lookup, loyalty.update.

An enrollment prints one activation slip, ever, whatever the ECR resends and however often the agent
restarts: the enrollment and its slip are recorded (state `queued`) before the slip is submitted,
the slip's `printing` state is recorded before its first byte goes out, and its outcome when it ends.
A resend answers from that record. The one window that cannot be decided is a slip that was
`printing` when the agent died: it may be on paper, so it is never printed again automatically
(the answer says so, as for any failed print job with `any_sent: true`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from agent.ecr import fields
from agent.ecr.messages import ErrorCode, ProtocolError, Request
from agent.ecr.server import Connection, Handler
from agent.jobs.loyalty import LoyaltyUpdate
from agent.members.open_card import CallbackError
from agent.members.service import MemberError, MemberService
from agent.members.store import Enrollment, EnrollmentSlip
from drivers.printer import (
    ActivationSlip,
    JobConflict,
    PrinterProfile,
    PrintJob,
    PrintQueue,
    SlipError,
    activation_slip,
)
from offline_queue import IdempotencyConflict, OutboxError

from .devices import Devices
from .views import print_job_view

log = logging.getLogger(__name__)

ACTIVATION_KIND = "activation"  # the JOB kind of enrollment slips
UNKNOWN_OUTCOME = ("the agent stopped while this slip was printing: check whether it came out; to print another,"
                   " enroll again with a new job_id")  # fmt: skip
CALLBACK_PARAMETER_MAX = 512


def slip_view(enrollment: Enrollment, slip: EnrollmentSlip | None) -> dict[str, Any]:
    """The JOB object of a slip the print queue no longer knows (the agent restarted since)."""
    if slip is None or slip.state not in ("printed", "failed"):
        # Printing when the agent stopped (or recorded before slips were): perhaps on paper.
        sent = slip.bytes_sent if slip else 0
        return {"job_id": enrollment.print_job_id, "kind": ACTIVATION_KIND, "state": "failed",
                "reason": UNKNOWN_OUTCOME, "error_code": None, "bytes_sent": sent, "any_sent": True}  # fmt: skip
    return {"job_id": slip.print_job_id, "kind": ACTIVATION_KIND, "state": slip.state, "reason": slip.reason,
            "error_code": slip.error_code, "bytes_sent": slip.bytes_sent, "any_sent": slip.any_sent}  # fmt: skip


def new_points_total(body: dict[str, Any]) -> str | None:
    """`points` (canonical), or `point` (deprecated: the name member.lookup used to answer); both: the same."""
    if "points_delta" in body:  # an increment would be applied to a total nobody here is the owner of
        raise ProtocolError(ErrorCode.BAD_REQUEST, "points_delta is not supported: send the new total as points "
                            "(from your loyalty system), and the change shown to the customer as delta")  # fmt: skip
    points, point = fields.points(body, "points"), fields.points(body, "point")
    if points is not None and point is not None and Decimal(points) != Decimal(point):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "points and point (its deprecated name) differ: send points only")
    return points if points is not None else point


def loyalty_update_from(body: dict[str, Any]) -> LoyaltyUpdate:
    update = LoyaltyUpdate(
        update_id=fields.business_id(body, "update_id"),
        card_no=fields.business_id(body, "card_no", max_len=32),
        occur_time=fields.timestamp(body, "occur_time"),
        point=new_points_total(body), balance=fields.balance(body, "balance"),
        level=fields.text(body, "level", required=False, max_len=64),
        changed_point=fields.points(body, "delta"),
        change_reason=fields.text(body, "reason", required=False, max_len=50),
    )  # fmt: skip
    if update.point is None and update.balance is None and update.level is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "give at least one of points, balance, level (new absolute values)")
    return update


def callback_parameters(body: dict[str, Any]) -> dict[str, str]:
    """member.open relays a URL's query parameters: strings without control characters, nothing else."""
    for name, value in body.items():
        if not isinstance(value, str) or not 0 < len(value) <= CALLBACK_PARAMETER_MAX or fields.has_control(value):
            rule = f"a string of 1-{CALLBACK_PARAMETER_MAX} characters without control characters"
            raise fields.bad(name[:30], rule)
    return dict(body)


class MemberOperations:
    def __init__(self, members: MemberService | None, devices: Devices,
                 printer: Callable[[], tuple[PrintQueue, PrinterProfile]], store_name: str) -> None:  # fmt: skip
        self.members = members
        self.devices = devices
        self.printer = printer
        self.store_name = store_name
        # One request per job_id at a time: a resend racing its original must find it recorded, not print again.
        self._enrolling: dict[str, tuple[asyncio.Lock, int]] = {}  # job_id -> (lock, requests using it)

    def handlers(self) -> dict[str, Handler]:
        return {"member.enroll": self.member_enroll, "member.open": self.member_open,
                "member.lookup": self.member_lookup, "loyalty.update": self.loyalty_update}  # fmt: skip

    def _members(self) -> MemberService:
        if self.members is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "membership cards are not configured on this agent ([members])")
        return self.members

    def print_changed(self, job: PrintJob) -> None:
        if self.members is None or job.kind != ACTIVATION_KIND:
            return
        try:
            self.members.store.slip_changed(job.id, state=job.state.value, reason=job.reason,
                                            error_code=job.error_code, bytes_sent=job.bytes_sent,
                                            any_sent=job.any_sent, now=time.time())  # fmt: skip
        except sqlite3.Error as exc:
            log.error("the state of enrollment slip %s (%s) was not recorded: %s", job.id, job.state.value, exc)

    # --- member.enroll --------------------------------------------------------------------------

    async def member_enroll(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        job_id = fields.business_id(request.body, "job_id")
        external = fields.optional_id(request.body, "external_card_no")
        print_job_id = f"enroll-{job_id}"
        lock, users = self._enrolling.get(job_id, (asyncio.Lock(), 0))
        self._enrolling[job_id] = (lock, users + 1)
        try:
            async with lock:
                return await self._enroll(members, job_id, external, print_job_id)
        finally:
            lock, users = self._enrolling[job_id]
            if users == 1:
                del self._enrolling[job_id]
            else:
                self._enrolling[job_id] = (lock, users - 1)

    async def _enroll(self, members: MemberService, job_id: str, external: str | None,
                      print_job_id: str) -> dict[str, Any]:  # fmt: skip
        try:
            known = members.enrollment(job_id, external_card_no=external)
        except MemberError as exc:
            raise ProtocolError(ErrorCode(exc.code), exc.message) from None
        if known is not None:
            enrollment, slip = known
            job = self.devices.queue.get(print_job_id) if self.devices.queue else None
            if job is not None:
                return _enrolled(enrollment, print_job_view(job))
            if slip is None or slip.state != "queued":
                return _enrolled(enrollment, slip_view(enrollment, slip))
            # Recorded, but the agent stopped before a byte of it was sent: print it now.
            queue, profile = self.printer()
            wanted, data = self._slip(slip.url, profile)
        else:
            queue, profile = self.printer()
            try:
                url, offline = await members.activation_url(job_id)
            except MemberError as exc:
                raise ProtocolError(ErrorCode(exc.code), exc.message) from None
            wanted, data = self._slip(url, profile)
            enrollment, slip = members.add_enrollment(job_id, external_card_no=external,
                                                      print_job_id=print_job_id, url=url, offline=offline)  # fmt: skip
        try:
            job = queue.submit(data, job_id=print_job_id, kind=ACTIVATION_KIND)
        except JobConflict:  # cannot happen (the URL is recorded); if it did, never print a second slip
            raise ProtocolError(ErrorCode.INTERNAL, f"print job {print_job_id} exists with other content") from None
        self.devices.remember_slip(print_job_id, wanted)
        return _enrolled(enrollment, print_job_view(job))

    def _slip(self, url: str, profile: PrinterProfile) -> tuple[ActivationSlip, bytes]:
        wanted = ActivationSlip(store_name=self.store_name or "Membership card", url=url)
        try:
            return wanted, activation_slip(wanted, profile)
        except SlipError as exc:
            raise ProtocolError(ErrorCode.INTERNAL, f"the activation slip cannot be built: {exc}") from None

    # --- member.open, member.lookup, loyalty.update ------------------------------------------------

    async def member_open(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        params = callback_parameters(request.body)
        try:
            job = await asyncio.to_thread(members.accept_callback, params)
        except CallbackError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc)) from None
        except OutboxError as exc:
            raise ProtocolError(ErrorCode.OUTBOX_FULL, str(exc)) from None
        return {"open": {"id": job.id, "state": job.state.value}}

    async def member_lookup(self, request: Request, connection: Connection) -> dict[str, Any]:
        members = self._members()
        scan_id = fields.optional_id(request.body, "scan_id")
        card_no = fields.optional_id(request.body, "card_no", max_len=32)
        if (scan_id is None) == (card_no is None):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "give scan_id or card_no, exactly one of them")
        if scan_id is not None:
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
        update = loyalty_update_from(request.body)
        try:
            job = await asyncio.to_thread(members.loyalty_update, update)
        except IdempotencyConflict:
            raise ProtocolError(ErrorCode.IDEMPOTENCY_CONFLICT, "update_id exists with other values") from None
        except OutboxError as exc:
            raise ProtocolError(ErrorCode.OUTBOX_FULL, str(exc)) from None
        # superseded: an update with a later business time already went out; this one never will.
        return {"update": {"update_id": update.update_id, "state": job.state.value}}


def _enrolled(enrollment: Enrollment, job: dict[str, Any]) -> dict[str, Any]:
    return {"enrollment": {"job_id": enrollment.job_id, "template_id": enrollment.template_id,
                           "out_string": enrollment.out_string, "card_no": enrollment.card_no},
            "job": job}  # fmt: skip
