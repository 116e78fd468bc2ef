"""The JavaScript client (clients/js/posagent-ecr.js) in headless Chromium, through the example web till,
against a scripted agent that misbehaves on cue: pairing keeps only the origin token, a reconnect neither
loses nor repeats an event, requests survive a dropped connection, `retryable` errors are retried and
others are not, and a new epoch (agent restarted) says `gap` so the page asks the sale again.
The same page against the real `posagent run`: tests/e2e/test_web_till.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import chromium
from tests.support.fake_ws_agent import ORIGIN_TOKEN, PAIRING_CODE, FakeAgent
from tests.support.web_till import WAIT, events_seen, open_till, pair, run_js, static_site, text_of, wait_text

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    fake = FakeAgent()
    yield fake
    fake.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium") as driver:
        yield driver


@pytest.fixture
def paired_till(browser: WebDriver, agent: FakeAgent) -> Iterator[WebDriver]:
    """The page opened from its own origin, with a slow first reconnect (events happen while it is away)."""
    with static_site() as origin:
        open_till(browser, origin, agent.url, backoff_ms="1500")
        pair(browser, PAIRING_CODE)
        wait_text(browser, "connection", "open")
        yield browser


def hellos(agent: FakeAgent) -> list[dict[str, object]]:
    return [r["body"] for r in agent.requests if r["op"] == "hello"]


def test_pairing_keeps_the_origin_token_and_a_reload_says_hello_with_it(
    paired_till: WebDriver, agent: FakeAgent
) -> None:
    assert paired_till.execute_script("return Object.values(localStorage)") == [ORIGIN_TOKEN]
    assert text_of(paired_till, "pairing-code") == "" and text_of(paired_till, "pairing-status") == "paired"
    paired_till.refresh()  # no code this time: the stored token
    wait_text(paired_till, "connection", "open")
    assert [r["op"] for r in agent.requests] == ["pair", "hello", "hello"]
    assert all(h["token"] == ORIGIN_TOKEN for h in hellos(agent))


def test_a_wrong_code_is_refused_and_nothing_is_stored(browser: WebDriver, agent: FakeAgent) -> None:
    with static_site() as origin:
        open_till(browser, origin, agent.url)
        pair(browser, "WXYZ-WXYZ")
        wait_text(browser, "error", "UNAUTHORIZED")
        assert browser.execute_script("return localStorage.length") == 0
        assert [r["op"] for r in agent.requests] == ["pair"]  # no hello, no retry loop


def test_a_reconnect_neither_loses_nor_repeats_an_event(paired_till: WebDriver, agent: FakeAgent) -> None:
    for n in range(3):
        agent.emit("print.updated", {"job": {"job_id": f"j{n}", "state": "printed"}})
    WebDriverWait(paired_till, WAIT).until(lambda b: len(events_seen(b)) == 3)
    agent.replay_one_more = True  # the agent may repeat an event the page already has
    agent.drop_all()
    for n in range(3, 5):  # while the page waits to reconnect
        agent.emit("print.updated", {"job": {"job_id": f"j{n}", "state": "printed"}})
    WebDriverWait(paired_till, WAIT).until(lambda b: len(events_seen(b)) >= 5)
    agent.emit("print.updated", {"job": {"job_id": "j5", "state": "printed"}})
    WebDriverWait(paired_till, WAIT).until(lambda b: len(events_seen(b)) >= 6)
    assert events_seen(paired_till) == [f"e1:{seq}" for seq in range(1, 7)]
    assert hellos(agent)[-1]["last_seq"] == 3 and hellos(agent)[-1]["epoch"] == "e1"


def test_a_request_in_flight_is_resent_after_a_reconnect(paired_till: WebDriver, agent: FakeAgent) -> None:
    agent.silent_ops.add("sale.get")  # its answer is lost with the connection
    paired_till.execute_script("window.pending = window.till.ecr.request('sale.get', {sale_id: 'A1'})")
    WebDriverWait(paired_till, WAIT).until(lambda b: any(r["op"] == "sale.get" for r in agent.requests))
    agent.silent_ops.clear()
    agent.drop_all()
    outcome = run_js(paired_till, "return await window.pending")
    assert outcome == {"value": {"echo": "sale.get", "body": {"sale_id": "A1"}}}
    assert [r["body"] for r in agent.requests if r["op"] == "sale.get"] == [{"sale_id": "A1"}] * 2


def test_drawer_open_is_never_sent_twice(paired_till: WebDriver, agent: FakeAgent) -> None:
    agent.silent_ops.add("drawer.open")
    paired_till.execute_script("window.pending = window.till.ecr.request('drawer.open')")
    WebDriverWait(paired_till, WAIT).until(lambda b: any(r["op"] == "drawer.open" for r in agent.requests))
    agent.drop_all()
    outcome = run_js(paired_till, "return await window.pending")
    assert "lost before drawer.open was answered" in outcome["error"]
    wait_text(paired_till, "connection", "open")
    assert [r["op"] for r in agent.requests].count("drawer.open") == 1


def test_retryable_errors_are_retried_and_others_are_not(paired_till: WebDriver, agent: FakeAgent) -> None:
    agent.busy_answers["sale.start"] = 2
    body = {"sale_id": "A2", "amount": "1.00", "subject": "x"}
    started = run_js(paired_till, "return await window.till.ecr.request('sale.start', arguments[0])", body)
    assert started == {"value": {"echo": "sale.start", "body": body}}
    assert [r["body"] for r in agent.requests if r["op"] == "sale.start"] == [body] * 3  # unchanged each time

    missing = run_js(paired_till, "return await window.till.ecr.request('sale.get', {sale_id: 'missing'})")
    assert missing == {"error": "NOT_FOUND"}
    assert [r["body"] for r in agent.requests if r["op"] == "sale.get"] == [{"sale_id": "missing"}]

    agent.busy_answers["sale.start"] = 1000  # retryable, but never succeeds: the deadline ends it
    busy = run_js(paired_till, "return await window.till.ecr.request('sale.start', arguments[0], {timeoutMs: 1500})",
                  body)  # fmt: skip
    assert busy == {"error": "BUSY"}  # the agent's last word, not a bare timeout


def test_an_agent_restart_is_a_gap_and_the_page_asks_for_its_sale(paired_till: WebDriver, agent: FakeAgent) -> None:
    paired_till.execute_script("sessionStorage.setItem('till.sale', 'S9')")
    paired_till.refresh()
    wait_text(paired_till, "connection", "open")
    agent.emit("sale.updated", {"sale": {"sale_id": "S9", "state": "paying", "final": False}})
    WebDriverWait(paired_till, WAIT).until(lambda b: len(events_seen(b)) == 1)
    agent.restart()
    agent.emit("heartbeat", {"time": 1.0})  # kept in the new epoch before the page is back
    WebDriverWait(paired_till, WAIT).until(lambda b: len(events_seen(b)) == 2)
    assert events_seen(paired_till) == ["e1:1", "e1x:1"]
    assert hellos(agent)[-1]["last_seq"] == 1 and hellos(agent)[-1]["epoch"] == "e1"
    WebDriverWait(paired_till, WAIT).until(
        lambda b: [r["body"] for r in agent.requests if r["op"] == "sale.get"].count({"sale_id": "S9"}) == 2
    )


def test_a_silent_link_is_dropped_after_three_heartbeat_intervals(paired_till: WebDriver, agent: FakeAgent) -> None:
    agent.emit("heartbeat", {"time": 1000.0})
    agent.emit("heartbeat", {"time": 1001.0})  # the agent's clock: one a second, so 3 s of silence is too long
    WebDriverWait(paired_till, WAIT).until(lambda b: len(events_seen(b)) == 2)
    WebDriverWait(paired_till, WAIT).until(lambda b: len(hellos(agent)) == 2)  # the page reconnected by itself
    assert hellos(agent)[-1]["last_seq"] == 2


def test_a_revoked_origin_stops_reconnecting_and_asks_to_pair_again(paired_till: WebDriver, agent: FakeAgent) -> None:
    agent.close_all(1008, "origin revoked")
    wait_text(paired_till, "pairing-status", "origin revoked: pair this page again")
    assert text_of(paired_till, "connection") == "closed"
    assert paired_till.execute_script("return localStorage.length") == 0  # a revoked token is useless
    assert [r["op"] for r in agent.requests] == ["pair", "hello"]  # no knocking at a door that stays shut


def test_another_policy_close_reconnects(paired_till: WebDriver, agent: FakeAgent) -> None:
    agent.close_all(1008, "too slow reading")  # e.g. a frozen tab: nothing a person must do
    WebDriverWait(paired_till, WAIT).until(lambda b: len(hellos(agent)) == 2)
    wait_text(paired_till, "connection", "open")


def test_pairing_again_replaces_the_connection(paired_till: WebDriver, agent: FakeAgent) -> None:
    pair(paired_till, PAIRING_CODE)
    WebDriverWait(paired_till, WAIT).until(lambda b: len(hellos(agent)) == 2)
    wait_text(paired_till, "connection", "open")
    WebDriverWait(paired_till, WAIT).until(lambda b: len(agent.peers) == 1)  # the old socket is closed
    assert [r["op"] for r in agent.requests] == ["pair", "hello", "pair", "hello"]
