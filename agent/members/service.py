"""Membership cards at the till: enroll (print the activation QR), open (from the callback), look up,
and keep points/balance/level in step (DESIGN.md, till flows 1, 2 and 4).

Enrollment works offline: the activation URL is applied for once per template and cached (and
refreshed on a schedule), and `out_string` = v1.store.till.job_id.MAC lets the callback find its
enrollment; only this agent can write one (see `agent.members.out_string`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.alipay import AlipayClient, AlipayError, BusinessError, Timeouts
from agent.alipay.apis import ActivateUrlApply, CardQuery
from agent.alipay.envelope import CHINA_TIME, TIMESTAMP_FORMAT
from agent.jobs import card_authorize, card_open, loyalty
from agent.jobs.card_authorize import Authorization
from agent.jobs.loyalty import LoyaltyUpdate
from agent.members.callback_checks import check_values
from agent.members.open_card import (
    CallbackError,
    derive_out_serial_no,
)
from agent.members.out_string import OutStringError, SlipRef
from agent.members.out_string import encode as encode_out_string
from agent.members.out_string import verify as verify_out_string
from agent.members.store import Enrollment, EnrollmentSlip, MemberStore
from offline_queue import IdempotencyConflict, Job, Outbox, OutboxError, State

log = logging.getLogger(__name__)


# Callbacks one slip may bring: a customer scans again after a failure, but not without end.
MAX_CALLBACKS_PER_SLIP = 5
_SLIP_USED_UP = "this slip cannot open a card any more; ask the cashier for a new one"


@dataclass(frozen=True)
class Callback:
    """A callback that passed the checks needing no I/O."""

    auth_code: str
    template_id: str
    request_id: str
    out_string: str | None
    slip: SlipRef | None  # None: no out_string (a slip printed offline)

    def __repr__(self) -> str:  # the auth_code is a secret
        return f"Callback(template_id={self.template_id!r}, request_id={self.request_id!r}, slip={self.slip!r})"


class AlreadyReceived(CallbackError):
    """This very callback (its request_id) was received before: what it asked for is queued or done.
    A redelivery (the fleet link after a crash, a phone's reload) counts as done, not as a failure."""


class MemberError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class MemberSettings:
    template_id: str
    app_id: str
    store_id: str
    till_id: str
    store_name: str
    callback_url: str | None = None
    level: str | None = None
    initial_points: str | None = "0"
    initial_balance: str | None = None
    valid_days: int = 3650
    activation_refresh_seconds: float = 24 * 3600
    lookup_timeout: float = 2.0
    offline_slip_valid_seconds: float = 7 * 86400


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def china_now(now: float) -> datetime:
    return datetime.fromtimestamp(now, CHINA_TIME)


class MemberService:
    def __init__(self, client: AlipayClient, outbox: Outbox, store: MemberStore, settings: MemberSettings,
                 *, out_string_key: bytes, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        """`out_string_key`: the secret the activation URLs' out_strings are MAC'd with."""
        self._out_string_key = out_string_key
        self.client = client
        self.outbox = outbox
        self.store = store
        self.settings = settings
        self.clock = clock

    # --- enrollment -----------------------------------------------------------------------------

    def out_string(self, job_id: str) -> str:
        """What the activation URL carries so the callback finds its enrollment (MAC'd: see out_string.py)."""
        return encode_out_string(self._out_string_key, SlipRef(self.settings.store_id, self.settings.till_id, job_id))

    async def refresh_activation_url(self, template_id: str) -> str:
        # Without out_string: the template's URL, printed when an enrollment happens offline.
        result = await self.client.execute(ActivateUrlApply(template_id=template_id,
                                                            callback=self.settings.callback_url))  # fmt: skip
        self.store.save_activation_url(template_id, result.url, self.clock())
        return result.url

    def enrollment(self, job_id: str, *,
                   external_card_no: str | None) -> tuple[Enrollment, EnrollmentSlip | None] | None:  # fmt: skip
        """The enrollment `job_id` and its slip if it exists with this request; IDEMPOTENCY_CONFLICT if
        it exists with another one; None if it is new. (The slip is None for enrollments recorded before
        slips were.)"""
        existing = self.store.enrollment(job_id)
        if existing is None:
            return None
        if existing.request_hash != _fingerprint(external_card_no):
            raise MemberError("IDEMPOTENCY_CONFLICT", f"enrollment {job_id} exists with other details")
        return existing, self.store.slip(job_id)

    async def activation_url(self, job_id: str) -> tuple[str, bool]:
        """The URL a new enrollment's slip prints, and whether it is the offline one.

        Online, the URL is applied for with a MAC'd out_string naming store, till and job_id, so the
        callback names this enrollment. Offline, the template's cached URL is printed: the card still
        opens, but the callback cannot be matched to the enrollment (member.opened then has no job_id);
        the slip admits one callback without out_string within `offline_slip_valid_seconds`.
        """
        try:
            out_string = self.out_string(job_id)
        except ValueError as exc:
            raise MemberError("BAD_REQUEST", f"job_id: {exc}") from None
        template_id = self.settings.template_id
        limit = Timeouts(connect=self.settings.lookup_timeout, read=self.settings.lookup_timeout)
        try:
            request = ActivateUrlApply(template_id=template_id, callback=self.settings.callback_url,
                                       out_string=out_string)  # fmt: skip
            url = (await asyncio.wait_for(self.client.execute(request, timeouts=limit),
                                          timeout=self.settings.lookup_timeout * 2)).url  # fmt: skip
        except (AlipayError, TimeoutError) as exc:
            cached = self.store.activation_url(template_id)
            if cached is None:
                reason = f"Alipay is unreachable and no activation URL is cached yet ({exc})"
                raise MemberError("NETWORK_UNAVAILABLE", reason) from None
            log.warning("enrollment %s prints the cached activation URL (offline): its callback cannot be matched",
                        job_id)  # fmt: skip
            return cached[0], True
        return url, False

    def add_enrollment(self, job_id: str, *, external_card_no: str | None, print_job_id: str, url: str,
                       offline: bool = False) -> tuple[Enrollment, EnrollmentSlip]:  # fmt: skip
        """Record a new enrollment and the URL its slip prints, durably, before anything is printed."""
        enrollment = Enrollment(job_id, self.settings.template_id, self.out_string(job_id), external_card_no,
                                _fingerprint(external_card_no), print_job_id, None, self.clock())  # fmt: skip
        slip = self.store.add_enrollment(enrollment, url)
        if offline:  # that slip's callback comes without out_string: let exactly one such callback in
            self.store.add_offline_slip(job_id, self.clock())
        return enrollment, slip

    # --- the callback -----------------------------------------------------------------------------
    # Cheap checks first (`parse_callback`: shapes, app, template, the out_string's MAC), then reads
    # (`check_callback`: a pending enrollment, or an unused offline slip), and only then durable
    # writes (`queue_callback`). The HTTP endpoint rate-limits between the last two.

    def parse_callback(self, params: Mapping[str, object]) -> Callback:
        """The callback's values, checked without any I/O; raises CallbackError."""
        values = check_values(params, app_id=self.settings.app_id, template_ids=(self.settings.template_id,),
                              template_error="template_id is not the template this store enrolls with")  # fmt: skip
        auth_code, template_id, request_id = values.auth_code, values.template_id, values.request_id
        out_string = values.out_string
        slip = None
        if out_string is not None:
            try:
                slip = verify_out_string(self._out_string_key, out_string)
            except OutStringError as exc:
                raise CallbackError(str(exc)) from None
            if (slip.store, slip.till) != (self.settings.store_id, self.settings.till_id):
                raise CallbackError(f"out_string names store {slip.store} till {slip.till}, not this till")
        return Callback(auth_code, template_id, request_id, out_string, slip)

    def check_callback(self, callback: Callback) -> None:
        """Refuse (CallbackError) a callback no printed slip is waiting for (AlreadyReceived: this one
        was received before and its card is open). Reads only."""
        if callback.slip is not None:
            claims = self.store.claims(callback.slip.job)
            self._pending_enrollment(callback, received_before=callback.request_id in claims)
            if len(claims) >= MAX_CALLBACKS_PER_SLIP and callback.request_id not in claims:
                raise CallbackError(_SLIP_USED_UP)
        elif self.store.offline_slip_for(callback.request_id, self._offline_slips_since()) is None:
            raise CallbackError("the callback names no enrollment (no out_string) and no slip printed offline is "
                                "waiting for one")  # fmt: skip

    def queue_callback(self, callback: Callback) -> Job:
        """Record which slip this callback uses, then queue the card opening (durable): the auth_code's
        exchange first (card.authorize), then card.open. AlreadyReceived for a replayed callback."""
        return self._queue(callback, lambda authorization: card_authorize.enqueue(self.outbox, authorization))

    def queue_exchanged_callback(self, callback: Callback, *, access_token: str, user_id: str, at: float) -> Job:
        """Like `queue_callback`, when headquarters' relay already exchanged the auth_code for the customer's
        token (its exchange mode): card.open is queued directly with it, no oauth.token call at the till.
        `at` (when the relay received the callback) dates the new card, so a redelivered message makes the
        very same job (and is told AlreadyReceived) instead of a conflicting one."""

        def enqueue(authorization: Authorization) -> Job:
            order = card_open.CardOpenOrder(
                out_serial_no=derive_out_serial_no(authorization.template_id, authorization.request_id),
                template_id=authorization.template_id, auth_token=access_token, user_id=user_id,
                request_id=authorization.request_id, enrollment_id=authorization.enrollment_id,
                **self.card_values(authorization, at=at),
            )  # fmt: skip
            return card_open.enqueue(self.outbox, order)

        return self._queue(callback, enqueue)

    def _queue(self, callback: Callback, enqueue: Callable[[Authorization], Job]) -> Job:
        self.check_callback(callback)  # again: things may have changed while it waited its turn
        if callback.slip is not None:
            claimed = self.store.claim_enrollment(callback.slip.job, callback.request_id, self.clock(),
                                                  max_claims=MAX_CALLBACKS_PER_SLIP)  # fmt: skip
        else:
            claimed = self.store.claim_offline_slip(callback.request_id, self._offline_slips_since())
        if claimed is None:
            raise CallbackError(_SLIP_USED_UP)
        authorization = Authorization(
            auth_code=callback.auth_code, template_id=callback.template_id, request_id=callback.request_id,
            out_string=callback.out_string, enrollment_id=callback.slip.job if callback.slip else None,
        )  # fmt: skip
        before = time.time()
        try:
            job = enqueue(authorization)
        except IdempotencyConflict:
            if claimed:
                self.store.release_claim(callback.request_id)
            raise CallbackError(f"this form submission (request_id {callback.request_id}) was already received "
                                "with other values; nothing new queued") from None  # fmt: skip
        except OutboxError:
            if claimed:
                self.store.release_claim(callback.request_id)  # not queued: the slip may be used again
            raise
        if job.created_at < before:
            # The outbox returned the job this form submission already made: a replayed callback.
            raise AlreadyReceived(f"this callback was already received (request_id {callback.request_id}); "
                                "nothing new queued")  # fmt: skip
        return job

    def accept_callback(self, params: Mapping[str, object]) -> Job:
        """Validate a callback (relayed by the ECR as member.open) and queue the card opening."""
        callback = self.parse_callback(params)
        self.check_callback(callback)
        return self.queue_callback(callback)

    def _pending_enrollment(self, callback: Callback, *, received_before: bool) -> Enrollment:
        assert callback.slip is not None
        enrollment = self.store.enrollment(callback.slip.job)
        if enrollment is None:
            raise CallbackError("out_string names no enrollment of this till")
        if enrollment.card_no is not None:
            if received_before:
                raise AlreadyReceived(f"this callback was already received (request_id {callback.request_id}) and "
                                      "its card is open")  # fmt: skip
            raise CallbackError("the card of this slip is already open")
        if enrollment.template_id != callback.template_id:
            raise CallbackError("the slip was printed for another card template")
        return enrollment

    def _offline_slips_since(self) -> float:
        return self.clock() - self.settings.offline_slip_valid_seconds

    def card_values(self, authorization: Authorization, *, at: float | None = None) -> dict[str, Any]:
        """The new card's values, from the settings (the template's field rules) and the enrollment;
        opened `at` (epoch seconds; default now)."""
        now = china_now(self.clock() if at is None else at)
        enrollment = self.store.enrollment(authorization.enrollment_id) if authorization.enrollment_id else None
        return {
            "level": self.settings.level, "point": self.settings.initial_points,
            "balance": self.settings.initial_balance,
            "open_date": now.strftime(TIMESTAMP_FORMAT),
            "valid_date": (now + timedelta(days=self.settings.valid_days)).strftime(TIMESTAMP_FORMAT),
            "external_card_no": enrollment.external_card_no if enrollment else None,
        }  # fmt: skip

    def card_opened(self, result: dict[str, Any]) -> None:
        card_no = str(result["card_no"])
        self._remember(card_no, {"card_no": card_no, "level": result.get("level"), "point": result.get("point"),
                                 "balance": result.get("balance")})  # fmt: skip
        if result.get("enrollment_id"):
            self.store.enrollment_opened(str(result["enrollment_id"]), card_no)

    # --- look-up ----------------------------------------------------------------------------------

    async def lookup(self, card_no: str) -> dict[str, Any]:
        try:
            found = await asyncio.wait_for(
                self.client.execute(CardQuery(target_card_no=card_no),
                                    timeouts=Timeouts(connect=self.settings.lookup_timeout,
                                                      read=self.settings.lookup_timeout)),
                timeout=self.settings.lookup_timeout * 2,
            )  # fmt: skip
        except BusinessError:
            raise MemberError("NOT_FOUND", f"Alipay knows no card {card_no}") from None
        except (AlipayError, TimeoutError):
            cached = self.store.cached_member(card_no)
            if cached is None:
                raise MemberError("NOT_FOUND", f"card {card_no} is not cached and Alipay is unreachable") from None
            info, at = cached
            return {"member": member_view(info), "stale": True, "age_seconds": round(self.clock() - at, 1)}
        info = {"card_no": card_no, "level": found.card_info.level, "point": found.card_info.point,
                "balance": found.card_info.balance, "valid_date": found.card_info.valid_date,
                "in_wallet": found.schema_url is not None}  # fmt: skip
        self._remember(card_no, info)
        return {"member": member_view(info), "stale": False, "age_seconds": 0}

    def _remember(self, card_no: str, info: dict[str, Any]) -> None:
        # The cache only serves offline look-ups: failing to write it (a full disk) must not fail the op.
        try:
            self.store.cache_member(card_no, info, self.clock())
        except sqlite3.Error as exc:
            log.warning("member cache not updated for card %s: %s", card_no, exc)

    # --- points, balance, level ---------------------------------------------------------------------

    def loyalty_update(self, update: LoyaltyUpdate) -> Job:
        job = loyalty.enqueue(self.outbox, update)
        if job.state is State.PENDING:
            # Only the newest state of a card stays pending: a superseded or already delivered (older)
            # update must not overwrite what the cache knows.
            self._remember(update.card_no, {"card_no": update.card_no, "point": update.point,
                                            "balance": update.balance, "level": update.level})  # fmt: skip
        return job


# `points` is the canonical name (as in loyalty.update); `point` (Alipay's own name) is the same value,
# kept for ECRs written before `points` was answered: deprecated, still sent.
MEMBER_FIELDS = ("card_no", "level", "points", "balance", "valid_date", "in_wallet", "point")


def member_view(info: dict[str, Any]) -> dict[str, Any]:
    """The member object, fresh or cached: always every field, null where the value is not known.
    `info` is what the cache holds, in Alipay's names (`point`)."""
    known = {**info, "points": info.get("point")}
    return {name: known.get(name) for name in MEMBER_FIELDS}
