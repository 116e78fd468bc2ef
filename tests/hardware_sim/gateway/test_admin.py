"""Admin endpoints and the inspection snapshot; images upload."""

from __future__ import annotations

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.gateway import GatewaySimulator
from hardware_sim.gateway.admin import GatewayAdmin

from .conftest import APP_ID, PNG
from .oapi import TinyClient, public_pem


def test_register_app_at_run_time_in_any_key_format(sim: GatewaySimulator, app_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    one_line = "".join(public_pem(other).splitlines()[1:-1])  # Base64 SPKI, as Alipay's key tool shows it
    admin = GatewayAdmin(sim.base_url)
    assert "2021000000000002" in admin.register_app("2021000000000002", one_line)["apps"]
    client = TinyClient(sim.url, "2021000000000002", other, sim.alipay_public_key_pem)
    assert client.call("alipay.trade.query", {"out_trade_no": "x"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    client.close()
    pkcs1 = other.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    sim.register_app("2021000000000003", pkcs1)
    bad = httpx.post(sim.base_url + "/__admin/apps", json={"app_id": "x", "public_key": "not a key"})
    assert bad.status_code == 400 and "Base64" in bad.json()["error"]


def test_inspect_counts_calls_per_method(client: TinyClient, sim: GatewaySimulator) -> None:
    for _ in range(3):
        client.call("alipay.trade.query", {"out_trade_no": "x"})
    client.call("alipay.trade.cancel", {"trade_no": "x"})
    snapshot = GatewayAdmin(sim.url).inspect()
    assert snapshot["calls"] == {"alipay.trade.query": 3, "alipay.trade.cancel": 1}
    assert snapshot["calls_total"] == 4 and snapshot["regressions"] == 0


def test_unknown_admin_endpoint_and_bad_json(sim: GatewaySimulator) -> None:
    assert httpx.get(sim.base_url + "/__admin/nothing").status_code == 404
    assert httpx.post(sim.base_url + "/__admin/outage", content=b"{oops").status_code == 400


def test_image_upload(client: TinyClient, sim: GatewaySimulator) -> None:
    node = client.ok(
        "alipay.offline.material.image.upload",
        text={"image_type": "png", "image_name": "logo"},
        files={"image_content": ("logo.png", PNG, "image/png")},
    )
    assert len(node["image_id"]) == 32 and node["image_url"].startswith(sim.base_url)
    assert sim.inspect()["counts"]["images"] == 1


def test_image_upload_errors(client: TinyClient) -> None:
    method = "alipay.offline.material.image.upload"
    no_file = client.call(method, text={"image_type": "png", "image_name": "logo"})
    assert no_file.sub_code == "isv.invalid-parameter"
    exe = client.call(
        method, text={"image_type": "exe", "image_name": "x"}, files={"image_content": ("x", PNG, "image/png")}
    )
    assert exe.sub_code == "isv.invalid-file-extension"
    text = client.call(
        method, text={"image_type": "png", "image_name": "x"}, files={"image_content": ("x", b"hello", "text/plain")}
    )
    assert text.sub_code == "isv.upload-fail"
    big = client.call(method, text={"image_type": "png", "image_name": "x"},
                      files={"image_content": ("x", PNG + b"\0" * 5242880, "image/png")})  # fmt: skip
    assert big.sub_code == "isv.invalid-file-size"
    assert APP_ID  # the same app keeps working


def test_admin_is_for_loopback_clients_only() -> None:
    from hardware_sim.gateway.server import is_loopback_client

    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert is_loopback_client(host), host
    for host in ("10.0.0.2", "192.168.1.5", "::ffff:10.0.0.2", "fe80::1%eth0", "2001:db8::1", "garbage"):
        assert not is_loopback_client(host), host


def test_uploaded_images_are_served_at_their_url(client: TinyClient) -> None:
    node = client.ok(
        "alipay.offline.material.image.upload",
        text={"image_type": "png", "image_name": "logo"},
        files={"image_content": ("logo.png", PNG, "image/png")},
    )
    served = httpx.get(node["image_url"])
    assert served.content == PNG and served.headers["content-type"] == "image/png"
    assert httpx.get(node["image_url"] + "x").status_code == 404


def test_ipv6_loopback(app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}, host="::1") as sim:
        assert sim.url.startswith("http://[::1]:")
        assert GatewayAdmin(sim.url).health()["status"] == "ok"
