"""The relay against a real Mosquitto: a genuine callback reaches exactly its till, sealed, and the customer
hears "your card is being opened" only once the broker has it; everything else is refused before any
publish; a broker that is down or does not acknowledge gets the customer a "try again", and the retry
works once it is back."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from agent.fleet.messages import FleetMessageError, open_callback
from agent.members import out_string
from relay.app import Relay
from tests.support.broker import Broker
from tests.support.waiting import wait_until

from .conftest import APP_ID, TEMPLATE_ID, Chain, relay_config, running_relay

pytestmark = pytest.mark.timeout(120)


def sample(relay: Relay, name: str, labels: str = "") -> float:
    """A metric's value in the relay's registry (`labels`: "reason=mac")."""
    value = relay.metrics.registry.get_sample_value(name, dict([labels.split("=", 1)]) if labels else None)
    return float(value or 0.0)


async def test_a_genuine_callback_reaches_its_till_sealed_and_the_customer_is_answered_after_the_puback(
        chain: Chain, tmp_path: Path) -> None:  # fmt: skip
    s1t1, s1t2, s2t1 = chain.till("S1", "T1"), chain.till("S1", "T2"), chain.till("S2", "T1")
    config = relay_config(chain, tmp_path / "relay")
    query = chain.callback_query(s1t2, "E42", request_id="20260101000000000000000000042", auth_code="acSECRET0001")
    with chain.listen(s1t1) as inbox_t1, chain.listen(s1t2) as inbox_t2, chain.listen(s2t1) as inbox_s2:
        async with running_relay(config) as relay, httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"{relay.callback_url}?{query}")
            assert answer.status_code == 200
            assert "您的会员卡正在开通" in answer.text and "being opened" in answer.text
            assert "acSECRET0001" not in answer.text
            await wait_until(lambda: inbox_t2.count() == 1)
            assert sample(relay, "posagent_relay_callbacks_published_total") == 1
            assert sample(relay, "posagent_relay_publish_duration_seconds_count") == 1
        (topic, payload), = inbox_t2.messages
        assert topic == "posagent/acme/S1/T2/callback"
        assert b"acSECRET0001" not in payload and b"E42" not in payload  # sealed, not merely signed
        (message,) = inbox_t2.opened(s1t2)
        assert message.params == {"app_id": APP_ID, "auth_code": "acSECRET0001", "template_id": TEMPLATE_ID,
                                  "request_id": "20260101000000000000000000042", "scope": "auth_ecard",
                                  "out_string": out_string.encode(s1t2.mac_key, out_string.SlipRef("S1", "T2", "E42"))}
        assert message.authorization is None and len(message.id) == 32
        # Nowhere else, and the other tills' keys cannot open it.
        assert inbox_t1.count() == 0 and inbox_s2.count() == 0
        with pytest.raises(FleetMessageError):
            open_callback(s1t1.payload_key, topic, payload)


async def test_the_relay_reaches_the_broker_over_websockets_too(chain: Chain, broker: Broker, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    config = relay_config(chain, tmp_path / "relay")
    config = replace(config, broker=replace(config.broker, url=broker.ws_url))  # wss://127.0.0.1:PORT/mqtt
    with chain.listen(till) as inbox:
        async with running_relay(config) as relay, httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{relay.callback_url}?{chain.callback_query(till)}")).status_code == 200
            await wait_until(lambda: inbox.count() == 1)


async def test_a_till_that_is_offline_gets_the_callback_when_it_is_back(chain: Chain, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    with chain.listen(till):
        pass  # the till's persistent session exists, the till is away
    async with running_relay(relay_config(chain, tmp_path / "relay")) as relay, httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{relay.callback_url}?{chain.callback_query(till, 'E7')}")).status_code == 200
    with chain.listen(till) as inbox:
        await wait_until(lambda: inbox.count() == 1)
        assert inbox.opened(till)[0].params["out_string"].startswith("v1.S1.T1.E7.")


@pytest.mark.parametrize("case", ["edited job", "moved to another till", "forged mac", "unknown till", "wrong template",
                                  "wrong app", "too many parameters", "repeated parameter", "no out_string",
                                  "malformed out_string", "unknown parameter", "missing auth_code"])  # fmt: skip
async def test_a_callback_that_fails_a_check_is_refused_and_nothing_is_published(
        chain: Chain, tmp_path: Path, case: str) -> None:  # fmt: skip
    t1, t2 = chain.till("S1", "T1"), chain.till("S1", "T2")
    query = chain.callback_query(t1, "E1")
    genuine = out_string.encode(t1.mac_key, out_string.SlipRef("S1", "T1", "E1"))
    mac = genuine.rsplit(".", 1)[1]
    edits = {
        "edited job": ("out_string", f"v1.S1.T1.E2.{mac}"),
        "moved to another till": ("out_string", f"v1.S1.T2.E1.{mac}"),
        "forged mac": ("out_string", "v1.S1.T1.E1." + "A" * 22),
        "unknown till": ("out_string", out_string.encode(os.urandom(32), out_string.SlipRef("S9", "T1", "E1"))),
        "wrong template": ("template_id", "20240101000000000002"),
        "wrong app": ("app_id", "2099999999999999"),
        "no out_string": ("out_string", ""),
        "malformed out_string": ("out_string", "v1.S1.T1"),
        "missing auth_code": ("auth_code", ""),
    }
    if case in edits:
        name, value = edits[case]
        query = "&".join(f for f in query.split("&") if not f.startswith(name + "=")) + f"&{name}={value}"
    elif case == "too many parameters":
        query += "".join(f"&p{n}=1" for n in range(20))
    elif case == "repeated parameter":
        query += "&scope=again"
    elif case == "unknown parameter":
        query += "&evil=1"
    reasons = {"edited job": "mac", "moved to another till": "mac", "forged mac": "mac", "unknown till": "unknown_till",
               "wrong template": "template", "wrong app": "app", "no out_string": "out_string",
               "malformed out_string": "out_string"}  # fmt: skip
    with chain.listen(t1) as inbox1, chain.listen(t2) as inbox2:
        async with running_relay(relay_config(chain, tmp_path / "relay")) as relay, httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"{relay.callback_url}?{query}")
            assert answer.status_code == 400
            if case != "repeated parameter":  # that one the HTTP shell refuses before (plain text)
                assert "未能开卡" in answer.text and "Card not opened" in answer.text
                reason = reasons.get(case, "parameters")
                assert sample(relay, "posagent_relay_callbacks_refused_total", f"reason={reason}") == 1
            # A genuine callback after it still goes through: the refusal cost nothing else.
            assert (await http.get(f"{relay.callback_url}?{chain.callback_query(t1, 'E9')}")).status_code == 200
            await wait_until(lambda: inbox1.count() == 1)
    assert [m.params["out_string"].split(".")[3] for m in inbox1.opened(t1)] == ["E9"]
    assert inbox2.count() == 0


async def test_other_paths_and_methods_are_not_callbacks(chain: Chain, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    async with running_relay(relay_config(chain, tmp_path / "relay")) as relay, httpx.AsyncClient(timeout=10) as http:
        base = relay.callback_url.rsplit("/alipay/open-card", 1)[0]
        assert (await http.get(f"{base}/other?{chain.callback_query(till)}")).status_code == 404
        assert (await http.post(f"{relay.callback_url}?{chain.callback_query(till)}")).status_code == 405
        assert (await http.get(f"{base}/healthz")).status_code == 200
        assert sample(relay, "posagent_relay_callbacks_published_total") == 0


async def test_rate_limits_per_customer_and_in_total_shed_before_any_publish(chain: Chain, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    extra = '[limits]\nper_source_per_minute = 2\ntotal_per_minute = 3\n'
    config = relay_config(chain, tmp_path / "relay", extra)
    config = replace(config, relay=replace(config.relay, trusted_proxies=["127.0.0.0/8"]))  # the test's balancer
    with chain.listen(till) as inbox:
        async with running_relay(config) as relay, httpx.AsyncClient(timeout=10) as http:
            async def get(customer: str) -> int:
                headers = {"X-Forwarded-For": customer}
                return (await http.get(f"{relay.callback_url}?{chain.callback_query(till)}", headers=headers)).status_code

            assert [await get("198.51.100.1") for _ in range(3)] == [200, 200, 429]  # per customer
            assert await get("198.51.100.2") == 200  # another customer: the third of the total
            answer = await http.get(f"{relay.callback_url}?{chain.callback_query(till)}",
                                    headers={"X-Forwarded-For": "198.51.100.3"})  # fmt: skip
            assert answer.status_code == 429 and answer.headers["retry-after"] == "60"
            assert "try again in a minute" in answer.text
            assert sample(relay, "posagent_relay_callbacks_shed_total") == 2
            await wait_until(lambda: inbox.count() == 3)
    assert inbox.count() == 3  # exactly those answered 200


async def test_forged_callbacks_do_not_use_up_the_rate_limit(chain: Chain, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    config = relay_config(chain, tmp_path / "relay", '[limits]\nper_source_per_minute = 1\ntotal_per_minute = 1\n')
    forged = chain.callback_query(till).replace("out_string=v1.S1.T1.E1.", "out_string=v1.S1.T1.E2.")
    with chain.listen(till):
        async with running_relay(config) as relay, httpx.AsyncClient(timeout=10) as http:
            assert [(await http.get(f"{relay.callback_url}?{forged}")).status_code for _ in range(5)] == [400] * 5
            assert (await http.get(f"{relay.callback_url}?{chain.callback_query(till)}")).status_code == 200


async def test_broker_down_is_a_try_again_page_and_the_retry_succeeds_when_it_is_back(
        chain: Chain, broker: Broker, tmp_path: Path) -> None:  # fmt: skip
    till = chain.till("S1", "T1")
    query = chain.callback_query(till, "E5")
    with chain.listen(till):
        pass  # a persistent session: the broker keeps the till's messages while it is away
    async with running_relay(relay_config(chain, tmp_path / "relay")) as relay, httpx.AsyncClient(timeout=10) as http:
        broker.stop()
        await wait_until(lambda: not relay.broker.connected, attempts=1000)
        answer = await http.get(f"{relay.callback_url}?{query}")
        assert answer.status_code == 503 and "请稍后再试" in answer.text and "try again" in answer.text.lower()
        assert (await http.get(relay.callback_url.replace("/alipay/open-card", "/healthz"))).status_code == 503
        assert sample(relay, "posagent_relay_callbacks_failed_total", "reason=broker_down") == 1
        broker.launch()
        await wait_until(lambda: relay.broker.connected, attempts=2000)
        assert (await http.get(f"{relay.callback_url}?{query}")).status_code == 200
    with chain.listen(till) as inbox:
        await wait_until(lambda: inbox.count() >= 1)
        assert {m.params["request_id"] for m in inbox.opened(till)} == {dict(
            p.split("=") for p in query.split("&"))["request_id"]}  # fmt: skip


async def test_no_puback_in_time_is_a_try_again_page(chain: Chain, broker: Broker, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    config = relay_config(chain, tmp_path / "relay")
    config = replace(config, broker=replace(config.broker, publish_timeout_seconds=0.5))
    with chain.listen(till) as inbox:
        async with running_relay(config) as relay, httpx.AsyncClient(timeout=10) as http:
            assert broker.process is not None
            broker.process.send_signal(signal.SIGSTOP)  # alive, connected, silent
            try:
                answer = await http.get(f"{relay.callback_url}?{chain.callback_query(till, 'E3')}")
            finally:
                broker.process.send_signal(signal.SIGCONT)
            assert answer.status_code == 503
            assert sample(relay, "posagent_relay_callbacks_failed_total", "reason=no_puback") == 1
            assert sample(relay, "posagent_relay_callbacks_published_total") == 0
            # The customer's retry goes through; the first copy may arrive too: the till counts a
            # request_id it already queued as done.
            query = chain.callback_query(till, "E3", request_id="20260101000000000000000000003")
            assert (await http.get(f"{relay.callback_url}?{query}")).status_code == 200
            await wait_until(lambda: any(m.params["request_id"] == "20260101000000000000000000003"
                                         for m in inbox.opened(till)))  # fmt: skip


async def test_a_till_the_broker_has_no_session_for_is_not_promised_anything(chain: Chain, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")  # provisioned, never connected: nobody subscribes to its topic
    async with running_relay(relay_config(chain, tmp_path / "relay")) as relay, httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{relay.callback_url}?{chain.callback_query(till)}")
        assert answer.status_code == 503 and "not connected" in answer.text
        assert sample(relay, "posagent_relay_callbacks_failed_total", "reason=no_subscriber") == 1
