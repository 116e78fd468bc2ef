"""Which open-card callbacks the agent accepts: only those a slip it printed is waiting for.

The MemberService over a real outbox and member store; the gateway is a stand-in that only hands
out activation URLs (or is unreachable), since accepting a callback calls nothing at Alipay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.alipay.apis import ActivationUrl
from agent.alipay.errors import GatewayUnreachableError
from agent.members.open_card import CallbackError
from agent.members.out_string import SlipRef, encode
from agent.members.service import MAX_CALLBACKS_PER_SLIP, MemberError, MemberService, MemberSettings
from agent.members.store import MemberStore
from offline_queue import Caps, Dead, Outbox, OutboxFull, create_key_file

KEY = b"s" * 32
TEMPLATE_ID = "20240101000000000001"
SETTINGS = MemberSettings(template_id=TEMPLATE_ID, app_id="2021000000000001", store_id="SH01", till_id="T1",
                          store_name="Test", callback_url="http://127.0.0.1:9/cb")  # fmt: skip


class Gateway:
    """Answers activateurl.apply with a URL carrying the out_string, or is unreachable."""

    def __init__(self) -> None:
        self.online = True

    async def execute(self, request: Any, timeouts: Any = None) -> ActivationUrl:
        if not self.online:
            raise GatewayUnreachableError("unreachable", method=request.METHOD)
        tail = f"&out_string={request.out_string}" if request.out_string else ""
        return ActivationUrl(f"https://render.alipay.com/p/c/activate?template_id={request.template_id}{tail}")


class Till:
    def __init__(self, tmp_path: Path, caps: Caps | None = None) -> None:
        self.gateway = Gateway()
        self.now = 1_800_000_000.0
        self.outbox = Outbox.open(tmp_path / "agent.db", key_file=create_key_file(tmp_path / "outbox.key"),
                                  caps=caps)  # fmt: skip
        self.store = MemberStore(tmp_path / "agent.db")
        self.members = MemberService(self.gateway, self.outbox, self.store, SETTINGS,  # type: ignore[arg-type]
                                     out_string_key=KEY, clock=lambda: self.now)  # fmt: skip

    async def enroll(self, job_id: str, external_card_no: str | None = None) -> str:
        url, offline = await self.members.activation_url(job_id)
        enrollment, _ = self.members.add_enrollment(job_id, external_card_no=external_card_no,
                                                    print_job_id=f"enroll-{job_id}", url=url,
                                                    offline=offline)  # fmt: skip
        return enrollment.out_string

    def jobs(self) -> int:
        return len(self.outbox.list())

    def close(self) -> None:
        self.outbox.close()
        self.store.close()


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Till]:
    running = Till(tmp_path)
    yield running
    running.close()


def callback(request_id: str = "20260101000000000000000000001", **extra: str) -> dict[str, str]:
    return {"auth_code": "7f3dc16c1f8641a39e8a27f95abcQX20", "template_id": TEMPLATE_ID, "request_id": request_id,
            "app_id": "2021000000000001", "scope": "auth_ecard", **extra}  # fmt: skip


async def test_a_callback_for_a_printed_slip_queues_its_card_opening(till: Till) -> None:
    out_string = await till.enroll("E1", external_card_no="PHYS-0001")
    assert out_string.startswith("v1.SH01.T1.E1.")
    job = till.members.accept_callback(callback(out_string=out_string))
    assert job.kind == "card.authorize" and job.payload["enrollment_id"] == "E1"


async def test_the_audit_case_an_edited_out_string_claims_nobody_elses_enrollment(till: Till) -> None:
    mine = await till.enroll("E41")
    await till.enroll("E42", external_card_no="VICTIM-CARD")
    edited = mine.replace(".E41.", ".E42.")
    with pytest.raises(CallbackError, match="does not verify"):
        till.members.accept_callback(callback(out_string=edited))
    unsigned = "SH01:T1:E42"  # the previous release's layout: no MAC, so it cannot be trusted
    with pytest.raises(CallbackError, match="not written by this agent"):
        till.members.accept_callback(callback(out_string=unsigned))
    assert till.jobs() == 0


async def test_a_slip_of_another_till_or_no_enrollment_is_refused(till: Till) -> None:
    other_till = encode(KEY, SlipRef("SH01", "T2", "E1"))
    with pytest.raises(CallbackError, match="not this till"):
        till.members.accept_callback(callback(out_string=other_till))
    never_enrolled = encode(KEY, SlipRef("SH01", "T1", "E404"))
    with pytest.raises(CallbackError, match="names no enrollment"):
        till.members.accept_callback(callback(out_string=never_enrolled))
    assert till.jobs() == 0


async def test_a_slip_whose_card_is_open_admits_no_more_callbacks(till: Till) -> None:
    out_string = await till.enroll("E1")
    till.members.accept_callback(callback(out_string=out_string))
    till.members.card_opened({"card_no": "LOTUS0000000001", "enrollment_id": "E1"})
    with pytest.raises(CallbackError, match="already open"):
        till.members.accept_callback(callback("20260101000000000000000000002", out_string=out_string))
    assert till.jobs() == 1


async def test_one_slip_cannot_mint_callbacks_without_end(till: Till) -> None:
    # The holder of a genuine slip forges auth_codes and request_ids: each would be a job and a call.
    out_string = await till.enroll("E1")
    for n in range(MAX_CALLBACKS_PER_SLIP):
        till.members.accept_callback(callback(f"2026010100000000000000000{n:04d}", out_string=out_string))
    with pytest.raises(CallbackError, match="cannot open a card any more"):
        till.members.accept_callback(callback("20260101000000000000000009999", out_string=out_string))
    assert till.jobs() == MAX_CALLBACKS_PER_SLIP
    # A resend of one already accepted is still recognised as such, not as a new one.
    with pytest.raises(CallbackError, match="already received"):
        till.members.accept_callback(callback("20260101000000000000000000000", out_string=out_string))


async def test_a_replayed_or_altered_callback_queues_nothing_new(till: Till) -> None:
    out_string = await till.enroll("E1")
    till.members.accept_callback(callback(out_string=out_string))
    with pytest.raises(CallbackError, match="already received"):
        till.members.accept_callback(callback(out_string=out_string))
    altered = {**callback(out_string=out_string), "auth_code": "0" * 32}
    with pytest.raises(CallbackError, match="already received with other values"):
        till.members.accept_callback(altered)
    assert till.jobs() == 1


async def test_without_out_string_only_a_slip_printed_offline_opens_a_card_once(till: Till) -> None:
    with pytest.raises(CallbackError, match="no slip printed offline"):
        till.members.accept_callback(callback())
    # The template's URL was cached while online; then the line drops and a slip prints offline.
    till.store.save_activation_url(TEMPLATE_ID, "https://render.alipay.com/p/c/activate?template_id=1", till.now)
    till.gateway.online = False
    await till.enroll("E1")  # printed offline: the template's URL, no out_string
    job = till.members.accept_callback(callback())
    assert "enrollment_id" not in job.payload  # unbound: the card opens, not linked to E1
    with pytest.raises(CallbackError, match="no slip printed offline"):
        till.members.accept_callback(callback("20260101000000000000000000002"))
    assert till.jobs() == 1


async def test_an_offline_slip_expires(till: Till) -> None:
    till.store.save_activation_url(TEMPLATE_ID, "https://render.alipay.com/p/c/activate?template_id=1", till.now)
    till.gateway.online = False
    await till.enroll("E1")
    till.now += SETTINGS.offline_slip_valid_seconds + 1
    with pytest.raises(CallbackError, match="no slip printed offline"):
        till.members.accept_callback(callback())


async def test_a_callback_the_outbox_refuses_leaves_its_slip_usable(tmp_path: Path) -> None:
    till = Till(tmp_path, caps=Caps(max_pending=1))
    try:
        out_string = await till.enroll("E1")
        till.outbox.enqueue("card.update", {}, idempotency_key="filler")
        with pytest.raises(OutboxFull):
            till.members.accept_callback(callback(out_string=out_string))
        (filler,) = till.outbox.claim(1)
        till.outbox.complete(filler.id, Dead("test"))
        assert till.members.accept_callback(callback(out_string=out_string)).kind == "card.authorize"
    finally:
        till.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auth_code": "a" * 41}, "auth_code: expected 1-40"),
        ({"auth_code": "a\n"}, "auth_code"),
        ({"request_id": "2026\n"}, "request_id"),
        ({"template_id": TEMPLATE_ID + "\n"}, "template_id"),
        ({"template_id": "20240101000000000002"}, "not the template"),
        ({"app_id": "2099999999999999"}, "not this agent's app"),
        ({"evil\nline": "1"}, r"unexpected parameters: 'evil\\nline'"),
        ({"scope": 7}, "strings"),
    ],
)
async def test_malformed_callbacks_are_refused_by_name(till: Till, change: dict[str, Any], message: str) -> None:
    out_string = await till.enroll("E1")
    with pytest.raises(CallbackError, match=message):
        till.members.accept_callback({**callback(out_string=out_string), **change})
    assert till.jobs() == 0


async def test_a_job_id_that_cannot_be_printed_in_out_string_is_a_bad_request(till: Till) -> None:
    with pytest.raises(MemberError) as refused:
        await till.enroll("E1\n")
    assert refused.value.code == "BAD_REQUEST"
