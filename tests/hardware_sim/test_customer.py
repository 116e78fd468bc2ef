"""The simulated customer: follows an activation URL, fills the form, hits the merchant callback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.customer import CustomerError, open_card
from hardware_sim.gateway import GatewaySimulator

from .gateway.conftest import APP_ID, make_template
from .gateway.oapi import TinyClient, public_pem


class Callbacks(HTTPServer):
    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _CallbackHandler)


class _CallbackHandler(BaseHTTPRequestHandler):
    server: Callbacks

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def world() -> Iterator[tuple[TinyClient, str, Callbacks]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    callbacks = Callbacks()
    thread = threading.Thread(target=callbacks.serve_forever, daemon=True)
    thread.start()
    with GatewaySimulator(apps={APP_ID: public_pem(key)}) as sim:
        client = TinyClient(sim.url, APP_ID, key, sim.alipay_public_key_pem)
        yield client, make_template(client), callbacks
        client.close()
    callbacks.shutdown()
    callbacks.server_close()
    thread.join()


def apply(client: TinyClient, template_id: str, callback: str, **extra: str) -> str:
    biz = {"template_id": template_id, "callback": callback, **extra}
    return str(client.ok("alipay.marketing.card.activateurl.apply", biz)["apply_card_url"])


def test_customer_follows_the_callback_with_the_real_parameters(world: tuple[TinyClient, str, Callbacks]) -> None:
    client, template_id, callbacks = world
    callback = f"http://127.0.0.1:{callbacks.server_port}/alipay/callback"
    result = open_card(apply(client, template_id, callback, out_string="till-7"), mobile="13800138000", name="Li")
    assert (result.callback_status, result.error) == (200, None)
    assert len(callbacks.hits) == 1
    hit = urlsplit(callbacks.hits[0])
    assert hit.path == "/alipay/callback"
    params = {k: v[0] for k, v in parse_qs(hit.query).items()}
    assert list(params) == ["app_id", "auth_code", "template_id", "request_id", "out_string", "scope", "state"]
    assert params["app_id"] == APP_ID and params["template_id"] == template_id and params["out_string"] == "till-7"
    assert params["scope"] == "auth_base,auth_user,auth_ecard" and params == result.params


def test_unreachable_callback_is_reported_not_raised(world: tuple[TinyClient, str, Callbacks]) -> None:
    client, template_id, _ = world
    result = open_card(apply(client, template_id, "http://127.0.0.1:9/cb"), mobile="13800138000", name="Li")
    assert result.callback_status is None and result.error and "not reachable" in result.error
    assert result.params["auth_code"]


def test_form_rules_are_enforced(world: tuple[TinyClient, str, Callbacks]) -> None:
    client, template_id, _ = world
    url = apply(client, template_id, "http://127.0.0.1:9/cb")
    with pytest.raises(CustomerError, match="mobile"):
        open_card(url, mobile="12345", name="Li", follow_callback=False)
    with pytest.raises(CustomerError, match="never issued"):
        open_card(url.replace(template_id, "9" * 32), mobile="13800138000", name="Li")
    with pytest.raises(CustomerError, match="http"):
        open_card("file:///etc/passwd", mobile="13800138000", name="Li")


def test_the_page_also_serves_html_and_redirects_browsers(world: tuple[TinyClient, str, Callbacks]) -> None:
    client, template_id, _ = world
    from urllib.parse import unquote

    url = unquote(apply(client, template_id, "http://127.0.0.1:9/cb"))
    page = httpx.get(url)
    assert page.status_code == 200 and "<form" in page.text and 'name="mobile"' in page.text
    posted = httpx.post(url, data={"mobile": "13800138000", "name": "Li"})
    assert posted.status_code == 302 and posted.headers["location"].startswith("http://127.0.0.1:9/cb?app_id=")


def test_customer_cli_masks_the_mobile(world: tuple[TinyClient, str, Callbacks]) -> None:
    client, template_id, _ = world
    url = apply(client, template_id, "http://127.0.0.1:9/cb")
    done = subprocess.run(
        [sys.executable, "-m", "hardware_sim.cli", "customer", "open-card", url, "--mobile", "13800138000",
         "--name", "Li", "--no-follow", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "13800138000" not in done.stdout
    output = json.loads(done.stdout)
    assert output["mobile"] == "138****8000" and output["params"]["template_id"] == template_id
