"""The example web till in headless Chromium against `posagent run` (the simulated store): status.get round
trips over the WebSocket as the page measures them (performance.now()), and a code scanned at the serial
scanner to its `scan` event in the page (wall clocks of the same machine: the scanner simulator's stdin
written here, the event's arrival in the page as performance.timeOrigin + performance.now()).

Bounded: ROUND_TRIPS requests one after the other, SCANS scans each waited for at most 15 s.

Run: .venv/bin/python bench/bench_web_till.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.store import build_store  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.web_till import enable_websocket, open_till, pair, pairing_code, run_js, static_site, wait_text  # noqa: E402

ROUND_TRIPS = 500
SCANS = 40


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 0.5):6.2f} ms   p99 {percentile(samples, 0.99):6.2f} ms   (n={len(samples)})"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "store")
        try:
            port = enable_websocket(store)
            assert store.scanner is not None
            with static_site() as origin, chromium(Path(tmp) / "profile") as browser:
                open_till(browser, origin, f"ws://127.0.0.1:{port}/ecr")
                pair(browser, pairing_code(store, origin))
                wait_text(browser, "connection", "open")
                run_js(browser, "return await window.till.benchStatus(20)")  # warm-up
                outcome = run_js(browser, "return await window.till.benchStatus(arguments[0])", ROUND_TRIPS)
                round_trips = [float(t) for t in outcome["value"]]

                scan_ms = []
                for n in range(SCANS):
                    code = f"LOTUS{900000 + n}"  # a member card: shown, not a secret
                    before = len(browser.execute_script("return window.till.scanArrivals"))
                    sent = time.time() * 1000
                    store.scanner.say(code)
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline:
                        arrivals = browser.execute_script("return window.till.scanArrivals")
                        if len(arrivals) > before:
                            scan_ms.append(float(arrivals[-1]["atMs"]) - sent)
                            break
                        time.sleep(0.005)
                    time.sleep(0.05)  # one scan at a time, as a cashier scans
        finally:
            store.stop()

    print("Web till (headless Chromium, WebSocket to the agent on loopback)")
    print(f"  status.get round trip, page to agent and back:  {describe(round_trips)}")
    print(f"  serial scan -> scan event in the page:           {describe(scan_ms)}")
    if len(scan_ms) < SCANS:
        print(f"  {SCANS - len(scan_ms)} scan(s) never reached the page within 15 s")


if __name__ == "__main__":
    main()
