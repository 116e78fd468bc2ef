"""What a message on the till's callback topic becomes: queued once, a redelivery counted as done, a
definite refusal dropped, a transient failure kept for another try (and an unexpected one given up in
the end). Over the real member service and outbox where it matters."""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from agent.daemon.fleet_link.delivery import (
    MAX_UNEXPECTED_ATTEMPTS,
    Outcome,
    Retries,
    Verdict,
    deliver_callback,
    open_message,
)
from agent.fleet.messages import Authorization, CallbackMessage, FleetMessageError, seal_callback
from agent.fleet.topics import TillRef
from agent.jobs import card_authorize, card_open
from agent.members.open_card import CallbackError
from agent.members.service import AlreadyReceived, Callback
from offline_queue import Backoff, Caps, OutboxFull
from tests.agent.members.test_callback_acceptance import Till, callback

T1, T2 = TillRef("acme", "SH01", "T1"), TillRef("acme", "SH01", "T2")
KEY = os.urandom(32)
TOKEN = Authorization("authusrB94739c226e9c400196af5bc4740a9X01", "2088102169481075", 1296000, 1_800_000_000.0)


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Till]:
    running = Till(tmp_path)
    yield running
    running.close()


def message(params: Mapping[str, str], authorization: Authorization | None = None, at: float = 1_800_000_000.0,
            message_id: str = "m1") -> CallbackMessage:  # fmt: skip
    return CallbackMessage(message_id, at, dict(params), authorization)


# --- opening --------------------------------------------------------------------------------------------


def test_only_a_message_sealed_for_this_till_on_its_topic_opens() -> None:
    sealed = seal_callback(KEY, T1.callback_topic, message(callback()), os.urandom(12))
    assert open_message(KEY, T1.callback_topic, T1.callback_topic, sealed).params == callback()
    with pytest.raises(FleetMessageError) as foreign:
        open_message(KEY, T1.callback_topic, T2.callback_topic, sealed)  # a broker routing others' messages
    assert foreign.value.reason == "foreign_topic"
    reasons = {}
    for name, payload in {"oversized": b"\x01" + bytes(20000), "unsealed": b'{"v":1}', "unopened": sealed[:-1]}.items():
        with pytest.raises(FleetMessageError) as refused:
            open_message(KEY, T1.callback_topic, T1.callback_topic, payload)
        reasons[name] = refused.value.reason
        assert callback()["auth_code"] not in str(refused.value)
    assert reasons == {"oversized": "oversized", "unsealed": "unsealed", "unopened": "unopened"}


# --- through the member service -----------------------------------------------------------------------


async def test_a_callback_is_queued_once_and_its_redelivery_counts_as_done(till: Till) -> None:
    params = callback(out_string=await till.enroll("E1"))
    first = deliver_callback(till.members, message(params), till.now)
    assert first == Verdict(Outcome.QUEUED, "queued")
    again = deliver_callback(till.members, message(params, message_id="m2"), till.now + 5)  # the relay sent it twice
    assert again.outcome is Outcome.DUPLICATE and again.final
    assert [j.kind for j in till.outbox.list()] == [card_authorize.KIND]


async def test_a_redelivery_after_the_card_opened_still_counts_as_done(till: Till) -> None:
    params = callback(out_string=await till.enroll("E1"))
    assert deliver_callback(till.members, message(params), till.now).outcome is Outcome.QUEUED
    till.members.card_opened({"card_no": "LOTUS0000000001", "enrollment_id": "E1"})
    assert deliver_callback(till.members, message(params), till.now).outcome is Outcome.DUPLICATE
    other_submission = callback("20260101000000000000000000002", out_string=params["out_string"])
    refused = deliver_callback(till.members, message(other_submission), till.now)
    assert refused.outcome is Outcome.REFUSED and "already open" in refused.reason


async def test_in_exchange_mode_card_open_is_queued_with_the_relays_token(till: Till) -> None:
    params = callback(out_string=await till.enroll("E1", external_card_no="PHYS-1"))
    assert deliver_callback(till.members, message(params, TOKEN), till.now).outcome is Outcome.QUEUED
    till.now += 3600  # redelivered an hour later: the same job (the card is dated by the relay's receipt)
    assert deliver_callback(till.members, message(params, TOKEN), till.now).outcome is Outcome.DUPLICATE
    (listed,) = till.outbox.list()
    assert listed.kind == card_open.KIND and listed.payload["auth_token"] == "<sensitive>"  # sealed at rest
    (job,) = till.outbox.claim(1)  # as the dispatcher gets it, opened
    assert job.payload["auth_token"] == TOKEN.access_token and job.payload["user_id"] == TOKEN.user_id
    assert job.payload["external_card_no"] == "PHYS-1" and job.payload["enrollment_id"] == "E1"
    assert job.payload["open_date"].startswith("2027-01-15")  # 1_800_000_000 in China time
    with sqlite3.connect(till.outbox.path) as db:
        stored = " ".join(str(row) for row in db.execute("SELECT * FROM outbox_jobs").fetchall())
    assert TOKEN.access_token not in stored


async def test_a_token_that_expired_on_the_way_is_refused(till: Till) -> None:
    params = callback(out_string=await till.enroll("E1"))
    expired = deliver_callback(till.members, message(params, TOKEN), TOKEN.obtained_at + TOKEN.expires_in + 1)
    assert expired.outcome is Outcome.REFUSED and "scan again" in expired.reason
    assert till.outbox.list() == []


async def test_refusals_are_final_and_name_the_reason(till: Till) -> None:
    out_string = await till.enroll("E1")
    for params, words in [
        (callback(), "names no enrollment"),
        (callback(out_string=out_string, template_id="999"), "template"),
        (callback(out_string=out_string, evil="1"), "unexpected parameters"),
        (callback(out_string=out_string.replace(".E1.", ".E2.")), "does not verify"),
    ]:
        verdict = deliver_callback(till.members, message(params), till.now)
        assert (verdict.outcome, verdict.final) == (Outcome.REFUSED, True) and words in verdict.reason, verdict
    assert deliver_callback(None, message(callback()), till.now).outcome is Outcome.REFUSED  # no [members]
    assert till.outbox.list() == []


async def test_a_full_outbox_is_transient_and_frees_the_slip_for_the_retry(tmp_path: Path) -> None:
    till = Till(tmp_path, caps=Caps(max_pending=1))
    try:
        till.outbox.enqueue("other", {}, idempotency_key="fills-the-outbox")
        params = callback(out_string=await till.enroll("E1"))
        full = deliver_callback(till.members, message(params), till.now)
        assert (full.outcome, full.unexpected, full.final) == (Outcome.RETRY, False, False)
        assert "outbox full" in full.reason
        till.outbox.close()
        till.outbox = type(till.outbox).open(till.outbox.path, key_file=tmp_path / "outbox.key")  # the cap lifted
        till.members.outbox = till.outbox
        assert deliver_callback(till.members, message(params), till.now).outcome is Outcome.QUEUED
    finally:
        till.close()


class Failing:
    """A member service whose queueing raises `error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def parse_callback(self, params: Mapping[str, object]) -> Callback:
        return Callback("a" * 32, "1", "2", None, None)

    def queue_callback(self, callback: Callback) -> object:
        raise self.error

    def queue_exchanged_callback(self, callback: Callback, *, access_token: str, user_id: str, at: float) -> object:
        raise self.error


@pytest.mark.parametrize(("error", "outcome", "unexpected", "words"), [
    (OutboxFull(100, 100), Outcome.RETRY, False, "outbox full"),
    (sqlite3.OperationalError("database is locked"), Outcome.RETRY, False, "database locked"),
    (sqlite3.OperationalError("database or disk is full"), Outcome.RETRY, False, "disk full"),
    (OSError(28, "No space left on device"), Outcome.RETRY, False, "disk full"),
    (KeyError("secret-value"), Outcome.RETRY, True, "KeyError"),
    (AlreadyReceived("already received"), Outcome.DUPLICATE, False, "already"),
    (CallbackError("refused"), Outcome.REFUSED, False, "refused"),
])  # fmt: skip
def test_failures_are_sorted_into_transient_unexpected_and_final(error: BaseException, outcome: Outcome,
                                                                 unexpected: bool, words: str) -> None:  # fmt: skip
    verdict = deliver_callback(Failing(error), message(callback()), 0.0)  # type: ignore[arg-type]
    assert (verdict.outcome, verdict.unexpected) == (outcome, unexpected) and words in verdict.reason
    assert "secret-value" not in verdict.reason  # an unexpected error's text is never repeated


# --- waiting aside ----------------------------------------------------------------------------------------


def test_held_callbacks_come_due_with_backoff_and_a_copy_takes_over_the_handle() -> None:
    retries: Retries[str] = Retries(Backoff(base=1.0, factor=2.0, cap=8.0))
    rng = random.Random(1)
    transient = Verdict(Outcome.RETRY, "outbox full")
    first = retries.hold(message(callback(), message_id="a"), "handle-1", transient, 100.0, rng)
    assert first is not None and 100.0 <= first.due <= 101.0 and len(retries) == 1
    assert retries.take_due(99.0) == [] and retries.next_due() == first.due
    assert retries.redelivered("a", "handle-2") and not retries.redelivered("b", "x")
    (due,) = retries.take_due(first.due)
    assert due.handle == "handle-2" and len(retries) == 0  # acknowledged through the copy's handle
    again = retries.hold(due.message, due.handle, transient, 200.0, rng, previous=due)
    assert again is not None and again.attempts == 2 and again.due <= 202.0


def test_a_callback_failing_unexpectedly_is_given_up_after_a_few_attempts() -> None:
    retries: Retries[str] = Retries()
    rng = random.Random(2)
    bug = Verdict(Outcome.RETRY, "not queued (KeyError)", unexpected=True)
    held = None
    for attempt in range(1, MAX_UNEXPECTED_ATTEMPTS):
        held = retries.hold(message(callback()), "h", bug, float(attempt), rng, previous=held)
        assert held is not None
        retries.take_due(float("inf"))
    assert retries.hold(message(callback()), "h", bug, 99.0, rng, previous=held) is None
    transient = Verdict(Outcome.RETRY, "outbox full")
    held = None
    for attempt in range(50):  # a transient failure is never given up
        held = retries.hold(message(callback()), "h", transient, float(attempt), rng, previous=held)
        assert held is not None
        retries.take_due(float("inf"))
