"""The example web till (docs/examples/browser/) in headless Chromium against `posagent run` and the
simulated store, served from its own origin: paired with `posagent ecr pair --origin`, it enrolls a member
and prints the slip, sees the member's card at the camera, takes the payment from the serial scanner and
updates the points; then a sale survives a dropped socket and an agent restart with every event once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from demo.store import PAID_CODE, SimulatedStore, build_store, cli_text
from hardware_sim.customer import open_card
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.browser import chromium, save_full_page
from tests.support.web_till import (
    WAIT,
    click,
    enable_websocket,
    events_seen,
    open_till,
    pair,
    pairing_code,
    restart_agent,
    static_site,
    text_of,
    type_into,
    wait_text,
)

pytestmark = pytest.mark.timeout(300)


@dataclass
class WebTill:
    store: SimulatedStore
    browser: WebDriver
    origin: str
    websocket_port: int

    @property
    def agent_url(self) -> str:
        return f"ws://127.0.0.1:{self.websocket_port}/ecr"


@pytest.fixture
def web_till(tmp_path: Path) -> Iterator[WebTill]:
    """The store running, its agent listening for web tills, and the page opened (not paired yet)."""
    store = build_store(tmp_path / "store")
    try:
        port = enable_websocket(store)
        with static_site() as origin, chromium(tmp_path / "chromium") as browser:
            yield WebTill(store, browser, origin, port)
    finally:
        store.stop()


def paired(till: WebTill, **params: str) -> WebDriver:
    open_till(till.browser, till.origin, till.agent_url, **params)
    pair(till.browser, pairing_code(till.store, till.origin))
    wait_text(till.browser, "connection", "open")
    return till.browser


def assert_each_event_once_and_none_lost(browser: WebDriver) -> None:
    seen = events_seen(browser)
    assert not [key for key, n in Counter(seen).items() if n > 1], seen
    by_epoch: dict[str, list[int]] = {}
    for key in seen:
        epoch, seq = key.split(":")
        by_epoch.setdefault(epoch, []).append(int(seq))
    for seqs in by_epoch.values():  # within an epoch: in order, none skipped
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seen


def test_the_shared_ecr_token_is_no_key_for_a_page(web_till: WebTill) -> None:
    # Even a page of a paired origin that somehow got the shared token (the native tills' key) is refused.
    browser = paired(web_till)
    key = f"posagent.ecr.token {web_till.agent_url}"
    browser.execute_script("localStorage.setItem(arguments[0], arguments[1])", key, web_till.store.token)
    browser.refresh()
    wait_text(browser, "pairing-status", "refused: UNAUTHORIZED")
    assert browser.execute_script("return localStorage.length") == 0
    assert web_till.store.token not in str(browser.page_source)


def test_the_whole_journey_from_a_web_page(web_till: WebTill) -> None:
    browser, store = paired(web_till), web_till.store
    token = browser.execute_script("return Object.values(localStorage)")
    assert len(token) == 1 and token[0] != store.token  # the origin's own token, never the shared one

    click(browser, "enroll")
    wait_text(browser, "slip-state", "printed")
    (url,) = [r.text for r in zxingcpp.read_barcodes(Image.open(sorted(store.slips.glob("*.png"))[-1]))]
    opened = open_card(url, mobile="13800138000", name="张三", follow_callback=True)
    assert opened.callback_status == 200, opened.error
    card_no = wait_text(browser, "opened-card", "LOTUS")

    type_into(browser, "amount", "38.00")
    click(browser, "start-sale")
    wait_text(browser, "sale-state", "waiting_for_code")
    assert store.camera is not None and store.scanner is not None
    store.camera.say(card_no)
    wait_text(browser, "member-card", card_no)
    store.camera.say("!clear")
    assert "camera" in text_of(browser, "last-scan")
    wait_text(browser, "member-points", "100")
    store.scanner.say(PAID_CODE)
    wait_text(browser, "sale-state", "succeeded")

    type_into(browser, "points-total", "138")
    type_into(browser, "points-delta", "38")
    click(browser, "update-points")
    wait_text(browser, "points-state", "done")
    wait_text(browser, "member-points", "138")
    save_full_page(browser, "web-till.png")

    books = store.inspect()
    assert next(c for c in books["cards"] if c["biz_card_no"] == card_no)["point"] in (138, "138")
    sale_id = text_of(browser, "sale-id")
    trades = [t for t in books["trades"] if t["out_trade_no"].startswith(f"SH01_T1_{sale_id}_")]
    assert [t["status"] for t in trades] == ["TRADE_SUCCESS"]
    page = str(browser.page_source)
    for secret in (PAID_CODE, store.token, "13800138000"):
        assert secret not in page
    assert_each_event_once_and_none_lost(browser)
    assert text_of(browser, "error") == ""

    # The technician revokes the page's origin: it is closed and stops, asking to be paired again.
    cli_text("posagent", "ecr", "origins", "revoke", web_till.origin, "--config", str(store.work / "agent.toml"))
    wait_text(browser, "pairing-status", "origin revoked")
    assert text_of(browser, "connection") == "closed"


def test_a_sale_survives_a_dropped_socket_and_an_agent_restart(web_till: WebTill) -> None:
    browser, store = paired(web_till, backoff_ms="1500"), web_till.store
    assert store.scanner is not None

    # The socket drops; the payment is scanned while the page is away: the replay brings it.
    click(browser, "start-sale")
    wait_text(browser, "sale-state", "waiting_for_code")
    browser.execute_script("window.till.dropConnection()")
    store.scanner.say(PAID_CODE)
    wait_text(browser, "sale-state", "succeeded")
    first = text_of(browser, "sale-id")

    # The agent restarts while the customer confirms on the phone: the page asks again and ends right.
    click(browser, "start-sale")
    wait_text(browser, "sale-state", "waiting_for_code")
    store.scanner.say(example(Behaviour.NEEDS_CONFIRMATION, confirm_after=6))
    wait_text(browser, "sale-state", "waiting_buyer")
    restart_agent(store, web_till.websocket_port)
    wait_text(browser, "sale-state", "succeeded", timeout=90)
    second = text_of(browser, "sale-id")
    WebDriverWait(browser, WAIT).until(lambda b: text_of(b, "connection") == "open")

    trades = store.inspect()["trades"]
    for sale_id in (first, second):
        mine = [t for t in trades if t["out_trade_no"].startswith(f"SH01_T1_{sale_id}_")]
        assert [t["status"] for t in mine] == ["TRADE_SUCCESS"], sale_id
    assert len({key.split(":")[0] for key in events_seen(browser)}) == 2  # both epochs seen
    assert_each_event_once_and_none_lost(browser)
