"""The open-card callback endpoint, the one thing customers' phones reach: the real callback server,
member service, outbox and dispatcher against the simulated gateway.

Forgeries are refused before any durable write or Alipay call, a genuine slip's callbacks are
rate-limited, hostile GETs get a clear page (never a traceback), and a points update sent during
a flood is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import random
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.alipay import AlipayClient
from agent.daemon.app import outbox_policies
from agent.daemon.callback import CallbackServer, callback_params
from agent.jobs import card_authorize, card_open, loyalty
from agent.jobs.loyalty import LoyaltyUpdate
from agent.members.callback_limits import CallbackLimits
from agent.members.open_card import CallbackError
from agent.members.service import MemberService, MemberSettings
from agent.members.store import MemberStore
from agent.web import Request
from hardware_sim.customer import open_card
from offline_queue import Dispatcher, Outbox, State, create_key_file, load_key_file
from tests.support.daemon import free_port
from tests.support.gateway import APP_ID, make_template
from tests.support.gateway import Store as GatewayStore

PATH = "/alipay/open-card"
KEY_LABEL = "posagent:callback-out-string:v1"


@dataclass
class Till:
    client: AlipayClient
    outbox: Outbox
    members: MemberService
    server: CallbackServer
    dispatcher: Dispatcher
    gateway: GatewayStore
    template_id: str

    @property
    def base(self) -> str:
        assert self.server.address is not None
        return f"http://127.0.0.1:{self.server.address[1]}{PATH}"

    def oauth_calls(self) -> int:
        return int(self.gateway.gateway.inspect()["calls"].get("alipay.system.oauth.token", 0))

    def jobs(self, kind: str) -> list[State]:
        return [job.state for job in self.outbox.list(kind=kind, limit=10_000)]

    async def enroll(self, job_id: str) -> str:
        url, offline = await self.members.activation_url(job_id)
        self.members.add_enrollment(job_id, external_card_no=None, print_job_id=f"enroll-{job_id}", url=url,
                                    offline=offline)  # fmt: skip
        return url

    async def settle(self, kind: str, count: int) -> None:
        """Wait (bounded: fails only on a hang) until `count` jobs of `kind` are done or dead."""
        for _ in range(600):
            if sum(state in (State.DONE, State.DEAD) for state in self.jobs(kind)) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{kind} jobs never settled: {self.jobs(kind)}")


async def start_till(tmp_path: Path, gateway: GatewayStore, limits: CallbackLimits) -> Till:
    client = gateway.client()
    template_id = await make_template(client, prefix="LOTUS")
    key_file = create_key_file(tmp_path / "outbox.key")
    outbox = Outbox.open(tmp_path / "agent.db", key_file=key_file, policies=outbox_policies(300.0))
    port = free_port()
    settings = MemberSettings(template_id=template_id, app_id=APP_ID, store_id="SH01", till_id="T1", store_name="T",
                              callback_url=f"http://127.0.0.1:{port}{PATH}", level="VIP1")  # fmt: skip
    members = MemberService(client, outbox, MemberStore(tmp_path / "agent.db"), settings,
                            out_string_key=load_key_file(key_file).derive(KEY_LABEL))  # fmt: skip
    server = CallbackServer("127.0.0.1", port, PATH, members, limits=limits)
    await server.start()
    handlers = {loyalty.KIND: loyalty.handler(client), card_open.KIND: card_open.handler(client),
                card_authorize.KIND: card_authorize.handler(client, outbox, members.card_values)}  # fmt: skip
    return Till(client, outbox, members, server, Dispatcher(outbox, handlers, concurrency=4), gateway, template_id)


@pytest.fixture
async def till(tmp_path: Path, simulated_gateway: GatewayStore) -> AsyncIterator[Till]:
    running = await start_till(tmp_path, simulated_gateway, CallbackLimits(per_source_per_minute=3,
                                                                           total_per_minute=60))  # fmt: skip
    task = asyncio.create_task(running.dispatcher.run())
    yield running
    running.dispatcher.stop()
    await asyncio.wait_for(task, 30)
    await running.server.close()
    await running.client.aclose()
    running.outbox.close()


async def open_genuine_card(till: Till, job_id: str) -> str:
    """A real customer: scans the slip, fills the form, follows the callback; returns the card number."""
    url = await till.enroll(job_id)
    result = await asyncio.to_thread(open_card, url, mobile="13900001111", name="李雷", follow_callback=True)
    assert result.callback_status == 200, result.callback_body
    await till.settle(card_open.KIND, len(till.jobs(card_open.KIND)) + 1)
    done = [j for j in till.outbox.list(kind=card_open.KIND, state="done")]
    return str(done[-1].result["card_no"])


def forged_queries(template_id: str, genuine_out_string: str, count: int) -> list[str]:
    """What an attacker sends: right template, made-up codes; no out_string, an edited one, or junk."""
    rng = random.Random(11)
    letters = string.ascii_letters + string.digits

    def word(n: int) -> str:
        return "".join(rng.choice(letters) for _ in range(n))

    prefix = genuine_out_string.rsplit(".", 2)[0]  # v1.SH01.T1
    queries = []
    for n in range(count):
        base = f"auth_code={word(32)}&template_id={template_id}&request_id={rng.randrange(10**28, 10**29)}"
        variant = n % 4
        if variant == 1:
            base += f"&out_string={prefix}.E{n}.{word(22)}"  # another enrollment, a guessed MAC
        elif variant == 2:
            base += f"&out_string=SH01:T1:E{n}"  # the previous release's layout
        elif variant == 3:
            base += f"&out_string={genuine_out_string[:-1]}{'A' if genuine_out_string[-1] != 'A' else 'B'}"
        queries.append(base)
    return queries


async def send_all(base: str, queries: list[str], *, workers: int = 16,
                   local_address: str | None = None) -> dict[int, int]:  # fmt: skip
    statuses: dict[int, int] = {}
    pending = list(queries)
    transport = httpx.AsyncHTTPTransport(local_address=local_address) if local_address else None
    async with httpx.AsyncClient(timeout=10, transport=transport) as http:

        async def worker() -> None:
            while pending:
                answer = await http.get(f"{base}?{pending.pop()}")
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return statuses


async def test_a_flood_of_forged_callbacks_queues_nothing_calls_nothing_and_delays_no_update(till: Till) -> None:
    card_no = await open_genuine_card(till, "E1")
    oauth_before, accepted_before = till.oauth_calls(), till.server.counts["accepted"]
    genuine = (await till.enroll("E2")).split("out_string=", 1)[1].split("&", 1)[0]
    queries = forged_queries(till.template_id, genuine, 2000)
    flood = asyncio.create_task(send_all(till.base, queries))
    while till.server.counts["refused"] < 500:  # the flood is on
        await asyncio.sleep(0.01)
    update = LoyaltyUpdate(update_id="U1", card_no=card_no, occur_time="2026-11-25 10:00:00", point="180")
    job = await asyncio.to_thread(loyalty.enqueue, till.outbox, update)
    statuses = await flood
    assert statuses == {400: 2000}
    assert till.server.counts["accepted"] == accepted_before and till.server.counts["shed"] == 0
    assert till.jobs(card_authorize.KIND) == [State.DONE]  # the genuine customer's, nothing since
    assert till.oauth_calls() == oauth_before
    await till.settle(loyalty.KIND, 1)
    assert till.outbox.get(job.id).state is State.DONE
    card = next(c for c in till.gateway.gateway.inspect()["cards"] if c["biz_card_no"] == card_no)
    assert card["point"] == "180"


async def test_a_genuine_slip_cannot_flood_either_it_is_rate_limited_per_source(till: Till) -> None:
    url = await till.enroll("E1")
    out_string = url.split("out_string=", 1)[1].split("&", 1)[0]
    # Its holder makes up auth_codes and request_ids from one address: 3 a minute get through.
    queries = [f"auth_code=a{n:031d}&template_id={till.template_id}&request_id={10**28 + n}&out_string={out_string}"
               for n in range(200)]  # fmt: skip
    statuses = await send_all(till.base, queries, local_address="127.0.0.2")
    assert statuses.get(200) == 3 and statuses.get(429, 0) + statuses.get(200) == 200
    # Another customer, from another address, is not held back by it.
    other = await till.enroll("E2")
    result = await asyncio.to_thread(open_card, other, mobile="13900002222", name="韩梅梅", follow_callback=True)
    assert result.callback_status == 200, result.callback_body
    assert len(till.jobs(card_authorize.KIND)) == 4


async def test_a_shed_callback_gets_a_clear_page_in_chinese_and_english(till: Till) -> None:
    url = await till.enroll("E1")
    out_string = url.split("out_string=", 1)[1].split("&", 1)[0]
    queries = [f"auth_code=a{n:031d}&template_id={till.template_id}&request_id={10**28 + n}&out_string={out_string}"
               for n in range(4)]  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        answers = [await http.get(f"{till.base}?{query}") for query in queries]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["retry-after"] == "60"
    assert "请稍后再试" in answers[3].text and "try again in a minute" in answers[3].text


def request(target: str, method: str = "GET") -> Request:
    return Request(method, target.split("?", 1)[0], {}, {}, b"", "203.0.113.9", target)


def test_more_than_20_parameters_is_a_clear_refusal_not_an_exception() -> None:
    target = PATH + "?" + "&".join(f"p{n}=1" for n in range(21))
    with pytest.raises(CallbackError, match=r"too many parameters \(21; a callback has at most 20\)"):
        callback_params(request(target))
    with pytest.raises(CallbackError, match="too many"):
        callback_params(request(PATH + "?a=1" + "&" * 25 + "b=2&" + "&".join(f"p{n}" for n in range(20))))
    assert callback_params(request(PATH + "?a=1" + "&" * 40 + "b=2")) == {"a": "1", "b": "2"}  # empty fields


HOSTILE = [
    PATH + "?" + "&".join(f"p{n}=1" for n in range(21)),
    PATH + "?" + "&".join(f"p{n}=1" for n in range(5000)),
    PATH + "?auth_code=%FF%FE&template_id=%00&request_id=%E4%B8",
    PATH + "?auth_code=a&auth_code=b",
    PATH + "?auth_code=a&template_id=1&request_id=1&out_string=" + "v1." * 80,
    PATH + "?auth_code=a&template_id=1&request_id=1&out_string=%0Av1.SH01.T1.E1.AAAAAAAAAAAAAAAAAAAAAA",
    PATH + "?%3Cscript%3E=1",
    PATH + "?==&&==",
    PATH + "?a=" + "%" * 100,
    PATH,
    PATH + "?",
    "http://evil.example" + PATH + "?auth_code=a",
    PATH + "/../other?x=1",
]


@pytest.mark.parametrize("target", HOSTILE)
async def test_hostile_gets_get_a_clear_page_and_no_traceback(till: Till, target: str,
                                                              caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    answer = await till.server.answer(request(target))
    assert answer.status in (400, 404), answer.body
    assert b"<script>" not in answer.body and "Traceback" not in caplog.text
    assert all(record.levelno < logging.ERROR for record in caplog.records)
    assert till.outbox.list() == []


async def test_other_methods_are_refused_with_allow_get(till: Till) -> None:
    for method in ("POST", "HEAD", "PUT", "OPTIONS"):
        answer = await till.server.answer(request(PATH + "?auth_code=a", method))
        assert answer.status == 405 and ("Allow", "GET") in answer.headers


async def test_refusals_are_logged_a_few_per_second_and_without_secrets(till: Till,
                                                                        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    secret = "7f3dc16c1f8641a39e8a27f95abcQX20"
    caplog.set_level(logging.WARNING)
    for n in range(300):
        await till.server.answer(request(f"{PATH}?auth_code={secret}&template_id={till.template_id}"
                                         f"&request_id={10**28 + n}&out_string=SH01:T1:E{n}"))  # fmt: skip
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refusals) <= 10
    assert secret not in caplog.text
