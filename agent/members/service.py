"""Membership cards at the till: enroll (print the activation QR), open (from the callback), look up,
and keep points/balance/level in step (DESIGN.md, till flows 1, 2 and 4).

Enrollment works offline: the activation URL is applied for once per template and cached (and
refreshed on a schedule), and `out_string` = store:till:job_id lets the callback find its enrollment.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.alipay import AlipayClient, AlipayError, BusinessError, Timeouts
from agent.alipay.apis import ActivateUrlApply, CardQuery
from agent.alipay.envelope import CHINA_TIME, TIMESTAMP_FORMAT
from agent.jobs import card_authorize, loyalty
from agent.jobs.card_authorize import Authorization
from agent.jobs.loyalty import LoyaltyUpdate
from agent.members.open_card import CallbackError, check_auth_code, check_request_id, check_template_id
from agent.members.store import Enrollment, MemberStore
from offline_queue import Job, Outbox

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"^-?(0|[1-9]\d{0,15})(\.\d{1,2})?$")
_AMOUNT = re.compile(r"^(0|[1-9]\d{0,9})(\.\d{1,2})?$")


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


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def china_now(now: float) -> datetime:
    return datetime.fromtimestamp(now, CHINA_TIME)


class MemberService:
    def __init__(self, client: AlipayClient, outbox: Outbox, store: MemberStore, settings: MemberSettings,
                 *, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.client = client
        self.outbox = outbox
        self.store = store
        self.settings = settings
        self.clock = clock

    # --- enrollment -----------------------------------------------------------------------------

    def out_string(self, job_id: str) -> str:
        return f"{self.settings.store_id}:{self.settings.till_id}:{job_id}"

    async def refresh_activation_url(self, template_id: str) -> str:
        # Without out_string: the template's URL, printed when an enrollment happens offline.
        result = await self.client.execute(ActivateUrlApply(template_id=template_id,
                                                            callback=self.settings.callback_url))  # fmt: skip
        self.store.save_activation_url(template_id, result.url, self.clock())
        return result.url

    async def enroll(self, job_id: str, *, external_card_no: str | None, print_job_id: str) -> tuple[Enrollment, str]:
        """Record the enrollment and return it with the URL to print. Same job_id + same request = same.

        Online, the URL is applied for with out_string = store:till:job_id, so the callback names this
        enrollment. Offline, the template's cached URL is printed: the card still opens, but the
        callback cannot be matched to the enrollment (member.opened then has no job_id).
        """
        fingerprint = _fingerprint(external_card_no)
        existing = self.store.enrollment(job_id)
        if existing is not None and existing.request_hash != fingerprint:
            raise MemberError("IDEMPOTENCY_CONFLICT", f"enrollment {job_id} exists with other details")
        template_id = existing.template_id if existing else self.settings.template_id
        out_string = self.out_string(job_id)
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
            url = cached[0]
        if existing is not None:
            return existing, url
        enrollment = Enrollment(job_id, template_id, out_string, external_card_no, fingerprint, print_job_id, None,
                                self.clock())  # fmt: skip
        self.store.add_enrollment(enrollment)
        return enrollment, url

    # --- the callback -----------------------------------------------------------------------------

    def accept_callback(self, params: dict[str, str]) -> Job:
        """Validate the callback's parameters and queue the card opening; answers at once."""
        allowed = {"auth_code", "template_id", "request_id", "out_string", "app_id", "scope", "state", "isv_app_id"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise CallbackError(f"unexpected parameters: {', '.join(k[:30] for k in unknown[:5])}")
        for name in ("auth_code", "template_id", "request_id"):
            if not isinstance(params.get(name), str) or not params[name]:
                raise CallbackError(f"{name} is required")
        if any(not isinstance(v, str) or len(v) > 512 for v in params.values()):
            raise CallbackError("parameters must be strings of at most 512 characters")
        auth_code = check_auth_code(params["auth_code"])
        template_id = check_template_id(params["template_id"])
        request_id = check_request_id(params["request_id"])
        app_id = params.get("app_id")
        if app_id and app_id != self.settings.app_id:
            raise CallbackError(f"app_id {app_id[:20]!r} is not this agent's app")
        if template_id != self.settings.template_id:
            raise CallbackError("template_id is not the template this store enrolls with")
        out_string = params.get("out_string") or None
        enrollment = self.store.enrollment_by_out_string(out_string) if out_string else None
        if out_string and enrollment is None and out_string.startswith(f"{self.settings.store_id}:"):
            raise CallbackError("out_string names no enrollment of this store")
        authorization = Authorization(
            auth_code=auth_code, template_id=template_id, request_id=request_id, out_string=out_string,
            enrollment_id=enrollment.job_id if enrollment else None,
        )
        before = time.time()
        job = card_authorize.enqueue(self.outbox, authorization)
        if job.created_at < before:
            # The outbox returned the job this form submission already made: a replayed callback.
            raise CallbackError(f"this callback was already received (request_id {request_id}); nothing new queued")
        return job

    def card_values(self, authorization: Authorization) -> dict[str, Any]:
        """The new card's values, from the settings (the template's field rules) and the enrollment."""
        now = china_now(self.clock())
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
        self.store.cache_member(card_no, {"card_no": card_no, "level": result.get("level"),
                                          "point": result.get("point"), "balance": result.get("balance")},
                                self.clock())  # fmt: skip
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
            return {"member": info, "stale": True, "age_seconds": round(self.clock() - at, 1)}
        info = {"card_no": card_no, "level": found.card_info.level, "point": found.card_info.point,
                "balance": found.card_info.balance, "valid_date": found.card_info.valid_date,
                "in_wallet": found.schema_url is not None}  # fmt: skip
        self.store.cache_member(card_no, info, self.clock())
        return {"member": info, "stale": False, "age_seconds": 0}

    # --- points, balance, level ---------------------------------------------------------------------

    def loyalty_update(self, body: dict[str, Any]) -> Job:
        update = parse_loyalty_update(body)
        job = loyalty.enqueue(self.outbox, update)
        known = {"card_no": update.card_no, "point": update.point, "balance": update.balance, "level": update.level}
        self.store.cache_member(update.card_no, known, self.clock())
        return job


def parse_loyalty_update(body: dict[str, Any]) -> LoyaltyUpdate:
    def field(name: str, pattern: re.Pattern[str] | None = None, max_len: int = 64) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not 0 < len(value) <= max_len:
            raise MemberError("BAD_REQUEST", f"{name} must be a string of 1-{max_len} characters")
        if pattern is not None and not pattern.match(value):
            raise MemberError("BAD_REQUEST", f"{name} is not a valid number")
        return value

    update_id = field("update_id")
    card_no = field("card_no", max_len=32)
    occur_time = field("occur_time", max_len=19)
    if not update_id or not card_no or not occur_time:
        raise MemberError("BAD_REQUEST", "update_id, card_no and occur_time are required")
    try:
        datetime.strptime(occur_time, TIMESTAMP_FORMAT)
    except ValueError:
        raise MemberError("BAD_REQUEST", "occur_time must be 'yyyy-MM-dd HH:mm:ss' (China time)") from None
    point, balance = field("points", _NUMBER), field("balance", _AMOUNT)
    level = field("level")
    if point is None and balance is None and level is None:
        raise MemberError("BAD_REQUEST", "give at least one of points, balance, level (new absolute values)")
    return LoyaltyUpdate(
        update_id=update_id, card_no=card_no, occur_time=occur_time, point=point, balance=balance, level=level,
        changed_point=field("delta", _NUMBER), change_reason=field("reason", max_len=50),
    )
