"""The status page as a technician sees it: how soon a printer running out of paper shows in the
browser, with the live panel (long poll) and, side by side in the same run, with JavaScript off
(the page's <noscript> refresh every 5 s). The issue's target: within 2 s of the change.

Starts the simulated gateway and printer in this process, `posagent run` as a child process, and
Debian's headless Chromium. Bounded: TOGGLES changes per browser, each waited for at most 15 s.

Run: .venv/bin/python bench/bench_status_page.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

from hardware_sim.gateway import GatewaySimulator  # noqa: E402
from hardware_sim.printer import PrinterSimulator  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.daemon import TOKEN, Daemon, free_port, write_store_files  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402

TOGGLES = 10
TARGET_SECONDS = 2.0
STATE_CSS = 'tr[data-device="printer"] td.state'


def log_in(browser: WebDriver, port: int) -> None:
    browser.get(f"http://127.0.0.1:{port}/login")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def shown(browser: WebDriver) -> str:
    try:
        return str(browser.find_element(By.CSS_SELECTOR, STATE_CSS).text)
    except Exception:  # the page is being replaced by a refresh
        return ""


def wait_shown(browser: WebDriver, wanted: str, timeout: float = 15.0) -> float:
    begin = time.perf_counter()
    while wanted not in shown(browser):
        if time.perf_counter() - begin > timeout:
            return float("inf")
        time.sleep(0.01)
    return time.perf_counter() - begin


def latencies(browser: WebDriver, printer: PrinterSimulator) -> list[float]:
    samples = []
    phase = random.Random(7)
    for i in range(TOGGLES):
        paper, label = ("end", "paper out") if i % 2 == 0 else ("ok", "ready")
        # A random moment, not right after the last change was shown: that would always land just
        # after a printer poll (or a page refresh) and measure the worst case every time.
        time.sleep(phase.uniform(0.0, 1.0))
        printer.set_state(paper=paper)
        samples.append(wait_shown(browser, label))
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    within = sum(s <= TARGET_SECONDS for s in ordered)
    worst = "never" if ordered[-1] == float("inf") else f"{ordered[-1]:.2f} s"
    return (f"median {statistics.median(ordered):5.2f} s   worst {worst:>7}   "
            f"within {TARGET_SECONDS:.0f} s: {within}/{len(ordered)}")  # fmt: skip


def main() -> None:
    from cryptography.hazmat.primitives import serialization

    public = _APP_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, GatewaySimulator(apps={APP_ID: public}) as gateway, \
            PrinterSimulator(Path(tmp) / "slips") as printer:  # fmt: skip
        port, status_port = free_port(), free_port()
        extra = f'\n[printer]\nuri = "tcp://127.0.0.1:{printer.port}"\n'
        config = write_store_files(Path(tmp), gateway.url, gateway.alipay_public_key_pem, port, extra,
                                   status_port=status_port)  # fmt: skip
        daemon = Daemon(config, port, Path(tmp) / "daemon.log", status_port=status_port)
        daemon.start()
        results: dict[str, list[float]] = {}
        try:
            for mode in ("live panel (JavaScript)", "no JavaScript (5 s refresh)"):
                with chromium(Path(tmp) / f"profile-{len(results)}") as browser:
                    if "no JavaScript" in mode:
                        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})  # type: ignore[attr-defined]
                    log_in(browser, status_port)
                    printer.set_state(paper="ok")
                    wait_shown(browser, "ready")
                    results[mode] = latencies(browser, printer)
        finally:
            daemon.stop()

    print("Status page: printer paper change -> shown in headless Chromium "
          f"({TOGGLES} changes each; printer polled every 1 s)")  # fmt: skip
    for mode, samples in results.items():
        print(f"  {mode:30} {describe(samples)}")
    live, plain = (statistics.median(s) for s in results.values())
    print(f"  live panel is {plain / live:.1f}x sooner than the refresh (medians, same run)")


if __name__ == "__main__":
    main()
