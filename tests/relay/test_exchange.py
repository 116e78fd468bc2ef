"""Exchange mode against the gateway simulator: the customer fills the real form, the simulator sends the
browser to the relay, the relay exchanges the auth_code at once and the till receives a working
authorization. The customer's retry of the same callback (a spent code) is delivered again from the
instance's memory, without a second oauth.token; on another instance it is told the link was used."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from agent.alipay import AlipayClient, apis
from agent.members import out_string
from hardware_sim.customer import open_card
from relay.app import Relay
from relay.config import RelayConfig, load_relay_config, load_secrets
from tests.support.broker import Broker, free_port
from tests.support.certmode import CERT_APP_ID, alipay_cert_lines, register_cert_app
from tests.support.gateway import Store, make_template
from tests.support.waiting import wait_until

from .conftest import APP_ID, TEMPLATE_ID, Chain, TillAccount, running_relay

pytestmark = pytest.mark.timeout(120)


def exchange_config(chain: Chain, folder: Path, store: Store, template_id: str) -> RelayConfig:
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / "app_private_key.pem"
    private.write_bytes(store.credentials.app_private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    private.chmod(0o600)
    (folder / "alipay_public_key.pem").write_text(store.gateway.alipay_public_key_pem)
    config = chain.relay_config(folder, f"""
[exchange]
app_private_key_file = "app_private_key.pem"
alipay_public_key_file = "alipay_public_key.pem"
gateway = "{store.gateway.url}"
""")
    config.write_text(config.read_text().replace(TEMPLATE_ID, template_id))
    return load_relay_config(config)


async def activation_url(store: Store, template_id: str, callback: str, till: TillAccount, job: str) -> str:
    async with store.client() as client:
        return await activation_url_with(client, template_id, callback, till, job)


async def activation_url_with(client: AlipayClient, template_id: str, callback: str, till: TillAccount,
                              job: str) -> str:  # fmt: skip
    slip = out_string.encode(till.mac_key, out_string.SlipRef(till.ref.store, till.ref.till, job))
    applied = await client.execute(apis.ActivateUrlApply(template_id=template_id, callback=callback,
                                                         out_string=slip))  # fmt: skip
    return applied.url


def oauth_calls(store: Store) -> int:
    return int(store.gateway.inspect()["calls"].get("alipay.system.oauth.token", 0))


async def test_the_till_receives_a_working_authorization_and_a_retry_is_delivered_without_a_second_exchange(
        chain: Chain, simulated_gateway: Store, tmp_path: Path) -> None:  # fmt: skip
    till = chain.till("S2", "T1")
    async with simulated_gateway.client() as client:
        template_id = await make_template(client)
    config = exchange_config(chain, tmp_path / "relay", simulated_gateway, template_id)
    with chain.listen(till) as inbox:
        async with running_relay(config) as relay, running_relay(config) as other:
            url = await activation_url(simulated_gateway, template_id, relay.callback_url, till, "E1")
            customer = await asyncio.to_thread(open_card, url, mobile="13800138000", name="Li Lei")
            assert customer.callback_status == 200 and "being opened" in customer.callback_body
            await wait_until(lambda: inbox.count() == 1)
            (message,) = inbox.opened(till)
            authorization = message.authorization
            assert authorization is not None and authorization.user_id
            assert message.params["request_id"] == customer.params["request_id"]
            # The token is real: Alipay (the simulator) answers the form query with it.
            async with simulated_gateway.client() as client:
                form = await client.execute(apis.ActivateFormQuery(template_id=template_id,
                                                                   request_id=customer.params["request_id"],
                                                                   auth_token=authorization.access_token))  # fmt: skip
            assert form.answers["OPEN_FORM_FIELD_MOBILE"] == "13800138000"
            assert oauth_calls(simulated_gateway) == 1
            async with httpx.AsyncClient(timeout=10) as http:
                # The customer reloads the page: same callback, spent code. Delivered again (the till counts
                # the request_id as done), from this instance's memory.
                again = await http.get(customer.callback_url or "")
                assert again.status_code == 200
                await wait_until(lambda: inbox.count() == 2)
                assert inbox.opened(till)[1].authorization == authorization
                assert oauth_calls(simulated_gateway) == 1
                # On another instance the code is spent at Alipay: the customer is told so, nothing is sent.
                elsewhere = await http.get((customer.callback_url or "").replace(relay.callback_url,
                                                                                  other.callback_url))  # fmt: skip
                assert elsewhere.status_code == 409 and "already used" in elsewhere.text
                assert other.metrics.registry.get_sample_value("posagent_relay_callbacks_failed_total",
                                                               {"reason": "code_spent"}) == 1  # fmt: skip
    assert inbox.count() == 2


async def test_with_the_broker_down_the_code_is_not_spent_and_the_retry_opens_the_card(
        chain: Chain, simulated_gateway: Store, broker: Broker, tmp_path: Path) -> None:  # fmt: skip
    till = chain.till("S1", "T1")
    async with simulated_gateway.client() as client:
        template_id = await make_template(client)
    with chain.listen(till):
        pass  # the till's session exists; the till is away
    config = exchange_config(chain, tmp_path / "relay", simulated_gateway, template_id)
    async with running_relay(config) as relay:
        url = await activation_url(simulated_gateway, template_id, relay.callback_url, till, "E2")
        broker.stop()
        await wait_until(lambda: not relay.broker.connected, attempts=1000)
        customer = await asyncio.to_thread(open_card, url, mobile="13800138001", name="Han Mei")
        assert customer.callback_status == 503
        assert oauth_calls(simulated_gateway) == 0  # the code is still good
        broker.launch()
        await wait_until(lambda: relay.broker.connected, attempts=2000)
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(customer.callback_url or "")).status_code == 200
    with chain.listen(till) as inbox:
        await wait_until(lambda: inbox.count() == 1)
        (message,) = inbox.opened(till)
        assert message.authorization is not None and oauth_calls(simulated_gateway) == 1


async def test_alipay_unreachable_is_a_try_again_page(chain: Chain, simulated_gateway: Store, tmp_path: Path) -> None:
    till = chain.till("S1", "T1")
    config = exchange_config(chain, tmp_path / "relay", simulated_gateway, TEMPLATE_ID)
    with chain.listen(till) as inbox:
        async with running_relay(config) as relay, httpx.AsyncClient(timeout=30) as http:
            simulated_gateway.gateway.outage(30)
            answer = await http.get(f"{relay.callback_url}?{chain.callback_query(till)}")
            assert answer.status_code == 503
            assert relay.metrics.registry.get_sample_value("posagent_relay_callbacks_failed_total",
                                                           {"reason": "exchange_unreachable"}) == 1  # fmt: skip
    assert inbox.count() == 0


# --- certificate mode: the same exchange with the console's three files, and Alipay's rotation ------------------

DOWNLOAD = "alipay.open.app.alipaycert.download"


def cert_exchange_config(chain: Chain, folder: Path, store: Store, port: int) -> Path:
    """A relay whose [exchange] is in certificate mode: an app registered with the simulator from a CLI-made CSR,
    its key and the three files the console gives (tests/support/certmode.py)."""
    app = register_cert_app(store.gateway, folder / "certkeys")
    config = chain.relay_config(folder, f"""
[exchange]
{alipay_cert_lines(app)}
gateway = "{store.gateway.url}"
""", port=port)
    config.write_text(config.read_text().replace(f'app_id = "{APP_ID}"', f'app_id = "{CERT_APP_ID}"'))
    return config


def downloads(store: Store) -> int:
    return int(store.gateway.inspect()["calls"].get(DOWNLOAD, 0))


async def test_certificate_mode_exchanges_and_a_rotated_certificate_is_downloaded_once_and_kept(
        chain: Chain, simulated_gateway: Store, tmp_path: Path) -> None:  # fmt: skip
    till = chain.till("S3", "T1")
    port = free_port()  # known before the relay starts: the activation URLs are made first
    callback = f"http://127.0.0.1:{port}/alipay/open-card"
    path = await asyncio.to_thread(cert_exchange_config, chain, tmp_path / "relay", simulated_gateway, port)
    credentials = load_secrets(load_relay_config(path), "relay.toml").exchange
    assert credentials is not None and credentials.cert_mode is not None
    # The merchant's template and the slips' activation URLs, made in certificate mode before the rotation (so
    # that every download counted below is the relay's).
    async with AlipayClient(credentials, simulated_gateway.gateway.url) as client:
        template_id = await make_template(client)
        urls = [await activation_url_with(client, template_id, callback, till, f"C{i}") for i in range(1, 5)]
    path.write_text(path.read_text().replace(TEMPLATE_ID, template_id))
    config = load_relay_config(path)
    kept = config.keys.dir / "alipay_certs"  # beside the tills' keys, the one folder the relay's config names

    async def customer_opens(relay: Relay, url: str, mobile: str) -> dict[str, str]:
        assert relay.callback_url == callback
        customer = await asyncio.to_thread(open_card, url, mobile=mobile, name="Li Lei")
        assert customer.callback_status == 200 and "being opened" in customer.callback_body, customer.callback_body
        return customer.params

    with chain.listen(till) as inbox:
        async with running_relay(config) as relay:
            params = await customer_opens(relay, urls[0], "13800138010")
            await wait_until(lambda: inbox.count() == 1)
            authorization = inbox.opened(till)[0].authorization
            assert authorization is not None and authorization.user_id
            async with AlipayClient(credentials, simulated_gateway.gateway.url) as client:  # the token is real
                form = await client.execute(apis.ActivateFormQuery(template_id=template_id,
                                                                   request_id=params["request_id"],
                                                                   auth_token=authorization.access_token))  # fmt: skip
            assert form.answers["OPEN_FORM_FIELD_MOBILE"] == "13800138010"
            assert downloads(simulated_gateway) == 0 and not kept.exists()
            # Alipay rotates its certificate: the next reply is signed with the new one, which the relay
            # downloads once, checks against the root bundle, uses and keeps; the one after needs nothing.
            new_sn = simulated_gateway.gateway.rotate_alipay_cert()
            await customer_opens(relay, urls[1], "13800138011")
            await customer_opens(relay, urls[2], "13800138012")
            await wait_until(lambda: inbox.count() == 3)
            assert all(message.authorization is not None for message in inbox.opened(till))
            assert downloads(simulated_gateway) == 1
            assert sorted(p.name for p in kept.iterdir()) == [f"alipay_cert_{new_sn}.pem"]
        # The next start trusts the kept certificate at once: no second download.
        async with running_relay(load_relay_config(path)) as relay:
            await customer_opens(relay, urls[3], "13800138013")
            await wait_until(lambda: inbox.count() == 4)
    assert inbox.opened(till)[3].authorization is not None
    assert downloads(simulated_gateway) == 1 and oauth_calls(simulated_gateway) == 4
