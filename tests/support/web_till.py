"""The example web till (docs/examples/browser/) served from its own origin, as a web till is served from
somewhere other than the agent, and driven in headless Chromium like a cashier would."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from demo.store import BIN, Child, SimulatedStore, cli_text, free_port, wait_listening
from tests.support.browser import REPO

WAIT = 30.0  # generous: a loaded machine; bounded so that only a hang fails
SERVED = ("/clients/js/", "/docs/examples/browser/")  # the page and the module, nothing else of the repo


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if not self.path.startswith(SERVED) or ".." in self.path:
            self.send_error(404)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_site() -> Iterator[str]:
    """A tiny static server for the page and the module; yields its origin (http://127.0.0.1:PORT)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(REPO)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def open_till(browser: WebDriver, origin: str, agent_url: str, **params: str) -> None:
    query = "&".join(f"{k}={v}" for k, v in {"agent": agent_url, **params}.items())
    browser.get(f"{origin}/docs/examples/browser/index.html?{query}")
    WebDriverWait(browser, WAIT).until(lambda b: b.execute_script("return !!window.till"))


def text_of(browser: WebDriver, element_id: str) -> str:
    return str(browser.execute_script("return document.getElementById(arguments[0]).textContent", element_id))


def wait_text(browser: WebDriver, element_id: str, wanted: str, timeout: float = WAIT) -> str:
    """Wait until the element shows `wanted`; fails (with what it shows) only if it never does."""
    try:
        WebDriverWait(browser, timeout, poll_frequency=0.05).until(lambda b: wanted in text_of(b, element_id))
    except Exception as exc:
        raise AssertionError(f"#{element_id} shows {text_of(browser, element_id)!r}, not {wanted!r}; "
                             f"error: {text_of(browser, 'error')!r}") from exc  # fmt: skip
    return text_of(browser, element_id)


def type_into(browser: WebDriver, element_id: str, text: str) -> None:
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def click(browser: WebDriver, element_id: str) -> None:
    browser.find_element(By.ID, element_id).click()


def pair(browser: WebDriver, code: str) -> None:
    """The cashier types the code the technician read out, and presses Pair."""
    type_into(browser, "pairing-code", code)
    click(browser, "pair")


def run_js(browser: WebDriver, script: str, *args: Any) -> Any:
    """Run an async snippet in the page (`return await ...`); its error comes back as the test's."""
    wrapped = ("const done = arguments[arguments.length - 1];"
               f"(async () => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
               ".then((value) => done({ value }), (err) => done({ error: String(err && err.code || err) }));")  # fmt: skip
    browser.set_script_timeout(WAIT)
    outcome = browser.execute_async_script(wrapped, *args)
    return outcome


def events_seen(browser: WebDriver) -> list[str]:
    return list(browser.execute_script("return window.till.seen"))


# ---- the simulated store (demo/store.py) with the agent's WebSocket listener --------------------------


def agent_child(store: SimulatedStore) -> Child:
    return next(child for child in store.children if child.name == "agent")


def enable_websocket(store: SimulatedStore) -> int:
    """Turn on `[ecr] websocket_port` in the store's agent.toml and restart the agent; the port."""
    port = free_port()
    config = store.work / "agent.toml"
    text = config.read_text()
    config.write_text(re.sub(r"^(tcp_port = \d+)$", rf"\1\nwebsocket_port = {port}", text, count=1, flags=re.M))
    restart_agent(store, port)
    return port


def restart_agent(store: SimulatedStore, websocket_port: int) -> None:
    """Stop the agent (SIGTERM, as systemd does) and start it again on the same configuration."""
    old = agent_child(store)
    old.stop()
    store.children.remove(old)
    log = store.work / "logs" / "agent.log"
    agent = Child.start("agent", [str(BIN / "posagent"), "run", "--config", str(store.work / "agent.toml")], log,
                        read_first_line=False, into=store.children)  # fmt: skip
    wait_listening(store.ecr_port, agent, log)
    wait_listening(websocket_port, agent, log)


def pairing_code(store: SimulatedStore, origin: str) -> str:
    """What the technician runs on the store PC: `posagent ecr pair --origin ORIGIN`."""
    printed = cli_text("posagent", "ecr", "pair", "--origin", origin, "--config", str(store.work / "agent.toml"))
    found = re.search(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}\b", printed)
    assert found, f"no pairing code in {printed!r}"
    return found.group(0)
