"""Headless Chromium for the status page tests (Debian's chromium and chromium-driver; `./run test`
installs them when missing)."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

REPO = Path(__file__).resolve().parents[2]

# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which this
# closed network refuses; as root it needs --no-sandbox.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--window-size=1400,1000")  # fmt: skip


def screenshot_dir() -> Path:
    """Where the tests leave their screenshots (README: artifacts/screenshots/)."""
    folder = Path(os.environ.get("POSAGENT_SCREENSHOTS", REPO / "artifacts" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _find(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"{' or '.join(names)} not found: install Debian's chromium and chromium-driver "
                       "(./run test does it when run as root)")  # fmt: skip


@contextlib.contextmanager
def chromium(profile_dir: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = _find("chromium", "chromium-browser")
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(_find("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def save_full_page(driver: WebDriver, name: str) -> Path:
    """A screenshot of the whole page, not only the window (Chromium's DevTools capture)."""
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})  # type: ignore[attr-defined]
    path = screenshot_dir() / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
