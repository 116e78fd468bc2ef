"""The status page in a real headless Chromium, against the real daemon and the simulated store:
log in with the ECR token, watch the printer run out of paper, retry a dead job, print a test slip,
see scans masked. The last view is saved as a screenshot (see README: artifacts/screenshots/).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.browser import chromium, save_full_page
from tests.support.daemon import TOKEN, Store, member_store_with_scanner
from tests.support.gateway import Store as GatewayStore

WAIT = 20.0  # generous: a loaded CI machine; the latency itself is measured in bench/bench_status_page.py

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium") as driver:
        yield driver


def log_in(browser: WebDriver, port: int, token: str = TOKEN) -> None:
    browser.get(f"http://127.0.0.1:{port}/")
    field = WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.ID, "token"))
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


# The live panel swaps its HTML whenever the agent's state changes, so element handles go stale:
# read and click inside the page, in one script, instead.
def text_of(browser: WebDriver, css: str) -> str:
    script = "return Array.from(document.querySelectorAll(arguments[0])).map((e) => e.innerText).join(' ')"
    return str(browser.execute_script(script, css))


def click(browser: WebDriver, css: str) -> None:
    assert browser.execute_script("const e = document.querySelector(arguments[0]); e && e.click(); return !!e", css)


def present(browser: WebDriver, css: str) -> bool:
    return bool(browser.execute_script("return document.querySelector(arguments[0]) !== null", css))


def wait_text(browser: WebDriver, css: str, wanted: str, timeout: float = WAIT) -> str:
    WebDriverWait(browser, timeout, poll_frequency=0.05).until(lambda b: wanted in text_of(b, css))
    return text_of(browser, css)


def printer_state(browser: WebDriver) -> str:
    return text_of(browser, 'tr[data-device="printer"] td.state')


def test_a_wrong_token_is_refused_and_the_right_one_logs_in(store: Store, browser: WebDriver) -> None:
    assert store.daemon.status_port is not None
    log_in(browser, store.daemon.status_port, token="not-the-token")
    assert "wrong token" in wait_text(browser, ".error", "wrong token")
    assert browser.get_cookie("posagent_session") is None
    log_in(browser, store.daemon.status_port)
    wait_text(browser, "#devices", "printer")
    cookie = browser.get_cookie("posagent_session")
    assert cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Strict"
    assert TOKEN not in browser.page_source


def test_paper_out_shows_without_a_reload_and_a_test_print_previews_its_slip(store: Store, browser: WebDriver) -> None:
    assert store.daemon.status_port is not None
    log_in(browser, store.daemon.status_port)
    wait_text(browser, 'tr[data-device="printer"] td.state', "ready")
    browser.execute_script("window.notReloaded = true")

    changed = time.monotonic()
    store.printer.set_state(paper="end")
    wait_text(browser, 'tr[data-device="printer"] td.state', "paper out")
    print(f"paper-out shown {time.monotonic() - changed:.2f} s after the change")
    assert browser.execute_script("return window.notReloaded") is True  # the live panel, not a reload

    store.printer.set_state(paper="ok")
    wait_text(browser, 'tr[data-device="printer"] td.state', "ready")
    click(browser, "#test-print")
    wait_text(browser, ".notice", "Test slip sent")
    printed = store.printer.wait_for_jobs(1, timeout=WAIT)
    wait_text(browser, "#prints", "printed")
    assert "POS Agent test print" in text_of(browser, "#prints .slip")
    assert present(browser, "#prints .slip svg.qr")
    assert printed


def test_scans_show_masked(store: Store, browser: WebDriver) -> None:
    assert store.daemon.status_port is not None
    log_in(browser, store.daemon.status_port)
    wait_text(browser, "#devices", "connected")
    code = example(Behaviour.PAID)
    store.scanner.scan(code)
    store.scanner.scan("LOTUS0001234")
    wait_text(browser, "#scans", "member card")
    scans = text_of(browser, "#scans")
    assert "alipay payment" in scans and code[-4:] in scans
    assert code not in browser.page_source


def test_the_retry_button_moves_a_dead_job_back_to_pending(member_browser_store: Store, browser: WebDriver,
                                                           simulated_gateway: GatewayStore) -> None:
    store = member_browser_store
    assert store.daemon.status_port is not None
    with store.daemon.ecr() as ecr:
        ecr.request("loyalty.update", {"update_id": "U-dead", "card_no": "9990000000001", "points": "10",
                                       "occur_time": "2026-11-25 10:00:00"})  # fmt: skip
        ecr.wait_for("loyalty.updated", lambda b: b["update_id"] == "U-dead" and b["state"] == "dead", timeout=WAIT)
        dead = ecr.request("outbox.list", {"state": "dead"})["jobs"]
    assert len(dead) == 1
    job_id = dead[0]["id"]

    log_in(browser, store.daemon.status_port)
    row = f'tr[data-job="{job_id}"]'
    WebDriverWait(browser, WAIT).until(lambda b: present(b, row))
    assert "card.update" in text_of(browser, row)
    simulated_gateway.gateway.outage(120)  # the retried job must stay pending long enough to be seen
    click(browser, f"{row} button")
    assert f"Job {job_id} is back in the queue" in wait_text(browser, ".notice", "back in the queue")
    WebDriverWait(browser, WAIT).until(lambda b: not present(b, row))
    with store.daemon.ecr() as ecr:
        assert [j["id"] for j in ecr.request("outbox.list", {"state": "dead"})["jobs"]] == []
        waiting = ecr.request("outbox.list", {"state": "pending"})["jobs"]
    assert [j["id"] for j in waiting] == [job_id]
    save_full_page(browser, "status-page-retried.png")


def test_screenshot_of_a_busy_store(member_browser_store: Store, browser: WebDriver) -> None:
    """The page as a technician finds it: devices, a failed print, a scan, a dead job, warnings."""
    store = member_browser_store
    assert store.daemon.status_port is not None
    with store.daemon.ecr() as ecr:
        ecr.request("print.qr", {"job_id": "R-1", "title": "Thank you", "lines": ["Order 1024", "Total 88.50"],
                                 "data": "https://example.com/r/1024"})  # fmt: skip
        ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "R-1" and b["job"]["state"] == "printed",
                     timeout=WAIT)  # fmt: skip
        ecr.request("loyalty.update", {"update_id": "U-x", "card_no": "9990000000002", "points": "10",
                                       "occur_time": "2026-11-25 10:00:00"})  # fmt: skip
        ecr.wait_for("loyalty.updated", lambda b: b["update_id"] == "U-x" and b["state"] == "dead", timeout=WAIT)
    store.scanner.scan(example(Behaviour.PAID))
    log_in(browser, store.daemon.status_port)
    wait_text(browser, "#prints", "R-1")
    wait_text(browser, "#scans", "alipay payment")
    assert "CARD_NOT_EXIST" in wait_text(browser, "#errors", "gave up")  # the dead job, among recent warnings
    store.printer.set_state(paper="near_end")
    wait_text(browser, 'tr[data-device="printer"] td.state', "paper near end")
    path = save_full_page(browser, "status-page.png")
    assert path.stat().st_size > 10_000


@pytest.fixture
def member_browser_store(tmp_path: Path, simulated_gateway: GatewayStore) -> Iterator[Store]:
    with member_store_with_scanner(tmp_path, simulated_gateway) as store:
        yield store
