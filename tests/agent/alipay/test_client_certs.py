"""Certificate mode end to end against a fake gateway: the SNs sent, replies checked with the certificate
they name, Alipay's certificate rotation (download, chain check, kept for next time), forgeries refused."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agent.alipay import AlipayClient, Credentials, ResponseVerificationError, apis
from agent.alipay.cert_store import AlipayCertStore
from agent.alipay.certs import build_cert_mode
from tests.support.certs import NOW, Pki, expected_root_sn, expected_sn, name, new_pki, pem, rsa_key, self_signed

from .conftest import rsa2_sign

GATEWAY = "http://127.0.0.1:9/gateway.do"
APP_ID = "2021000000000001"
DOWNLOAD = "alipay.open.app.alipaycert.download"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


@dataclass
class CertGateway:
    """Signs replies as Alipay does in certificate mode and serves `alipay.open.app.alipaycert.download`."""

    pki: Pki
    signing_key: rsa.RSAPrivateKey
    signing_cert: bytes
    served: dict[str, bytes] = field(default_factory=dict)  # SN -> certificate file the download returns
    params: list[dict[str, str]] = field(default_factory=list)

    def rotate(self, key: rsa.RSAPrivateKey, cert_file: bytes) -> None:
        self.signing_key, self.signing_cert = key, cert_file
        self.served[self.sn] = cert_file

    @property
    def sn(self) -> str:
        return expected_sn(x509.load_pem_x509_certificates(self.signing_cert)[0])

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        params.update(dict(httpx.QueryParams(request.content.decode())))
        self.params.append(params)
        method = params["method"]
        if method == DOWNLOAD:
            wanted = json.loads(params["biz_content"])["alipay_cert_sn"]
            fields = {"code": "10000", "msg": "Success",
                      "alipay_cert_content": base64.b64encode(self.served[wanted]).decode()}  # fmt: skip
        else:
            fields = {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS", "out_trade_no": "A1"}
        node = json.dumps(fields, separators=(",", ":"))
        sign = rsa2_sign(self.signing_key, node.encode())
        name_ = method.replace(".", "_") + "_response"
        # The real order: alipay_cert_sn between the node and sign.
        body = f'{{"{name_}":{node},"alipay_cert_sn":"{self.sn}","sign":"{sign}"}}'
        return httpx.Response(200, content=body.encode())

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def downloads(self) -> list[dict[str, str]]:
        return [p for p in self.params if p["method"] == DOWNLOAD]


@dataclass
class Setup:
    credentials: Credentials
    app_cert: bytes
    gateway: CertGateway


def cert_setup(pki: Pki, stored: list[bytes] | None = None) -> Setup:
    app_key, alipay_key = rsa_key("app"), rsa_key("alipay-1")
    app_cert, alipay_cert = pki.app_cert(app_key), pki.alipay_cert(alipay_key)
    mode = build_cert_mode(app_cert, alipay_cert, pki.root_bundle, app_key.public_key(), now=NOW,
                           stored_alipay_certs=stored or [])  # fmt: skip
    credentials = Credentials(APP_ID, app_key, mode.alipay_certs[0].public_key, cert_mode=mode)
    return Setup(credentials, app_cert, CertGateway(pki, alipay_key, alipay_cert))


QUERY = apis.TradeQuery(out_trade_no="A1")


async def test_requests_carry_both_sns_computed_independently_and_signed(pki: Pki) -> None:
    setup = cert_setup(pki)
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport) as client:
        assert (await client.execute(QUERY)).paid
    sent = setup.gateway.params[0]
    assert sent["app_cert_sn"] == expected_sn(x509.load_pem_x509_certificates(setup.app_cert)[0])
    assert sent["alipay_root_cert_sn"] == expected_root_sn(x509.load_pem_x509_certificates(pki.root_bundle))
    signed = "&".join(f"{k}={sent[k]}" for k in sorted(sent) if k != "sign")
    assert "app_cert_sn=" in signed and "alipay_root_cert_sn=" in signed
    rsa_key("app").public_key().verify(base64.b64decode(sent["sign"]), signed.encode(), padding.PKCS1v15(),
                                       hashes.SHA256())  # fmt: skip


async def test_a_reply_signed_by_another_key_under_the_same_sn_is_refused(pki: Pki) -> None:
    setup = cert_setup(pki)
    setup.gateway.signing_key = rsa_key("intruder")
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport) as client:
        with pytest.raises(ResponseVerificationError):
            await client.execute(QUERY)
    assert setup.gateway.downloads() == []


async def test_rotation_downloads_checks_and_keeps_the_new_certificate(pki: Pki, tmp_path: Path) -> None:
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    setup.gateway.rotate(new_key, pki.alipay_cert(new_key))
    store = AlipayCertStore(tmp_path / "alipay_certs")
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport,
                            cert_sink=store.save) as client:  # fmt: skip
        assert (await client.execute(QUERY)).paid
        assert (await client.execute(QUERY)).paid
    assert [json.loads(p["biz_content"]) for p in setup.gateway.downloads()] == [{"alipay_cert_sn": setup.gateway.sn}]
    # Next start: the kept certificate is trusted at once, no download.
    again = cert_setup(pki, stored=store.load())
    again.gateway.rotate(new_key, setup.gateway.signing_cert)
    again.gateway.served.clear()
    async with AlipayClient(again.credentials, GATEWAY, transport=again.gateway.transport) as client:
        assert (await client.execute(QUERY)).paid
    assert again.gateway.downloads() == []


async def test_rotation_in_the_middle_of_a_drain_costs_one_download_and_no_call(pki: Pki) -> None:
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    new_cert = pki.alipay_cert(new_key)
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport) as client:
        for _ in range(3):
            assert (await client.execute(QUERY)).paid
        setup.gateway.rotate(new_key, new_cert)
        results = await asyncio.gather(*(client.execute(QUERY) for _ in range(8)))
    assert all(r.paid for r in results)
    assert len(setup.gateway.downloads()) == 1


def forged_cert(pki: Pki, kind: str, key: rsa.RSAPrivateKey) -> bytes:
    if kind == "self-signed":
        return pem(self_signed(name("Alipay OpenAPI", ou="Alipay", o="Test Alipay"), key, ca=False).cert)
    if kind == "another root":
        return new_pki("attacker").alipay_cert(key)
    if kind == "expired":
        return pki.alipay_cert(key, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["self-signed", "another root", "expired"])
async def test_a_forged_or_expired_rotated_certificate_is_refused_loudly_and_never_trusted(
    pki: Pki, kind: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    setup = cert_setup(pki)
    old_key, old_cert = setup.gateway.signing_key, setup.gateway.signing_cert
    forger = rsa_key("forger")
    setup.gateway.rotate(forger, forged_cert(pki, kind, forger))
    forged_sn = setup.gateway.sn
    store = AlipayCertStore(tmp_path)
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport,
                            cert_sink=store.save) as client:  # fmt: skip
        for _ in range(2):  # asked again, refused again: never cached as trusted
            with caplog.at_level(logging.ERROR), pytest.raises(ResponseVerificationError) as info:
                await client.execute(QUERY)
            assert forged_sn in info.value.message
            assert not client.protocol.trusts(forged_sn)
        assert any("REFUSED Alipay certificate" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
        setup.gateway.signing_key, setup.gateway.signing_cert = old_key, old_cert
        assert (await client.execute(QUERY)).paid  # the genuine certificate still works
    assert store.load() == []


async def test_a_failed_download_leaves_the_call_unknown_never_not_sent(pki: Pki) -> None:
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    setup.gateway.rotate(new_key, pki.alipay_cert(new_key))

    def handler(request: httpx.Request) -> httpx.Response:
        if b"alipaycert.download" in request.url.query:
            raise httpx.ConnectError("refused")
        return setup.gateway.handler(request)

    async with AlipayClient(setup.credentials, GATEWAY, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ResponseVerificationError) as info:
            await client.execute(QUERY)
    assert type(info.value) is ResponseVerificationError  # an UnknownOutcomeError: the query did reach Alipay


async def test_a_download_returning_another_certificate_than_asked_is_refused(pki: Pki) -> None:
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    setup.gateway.rotate(new_key, pki.alipay_cert(new_key))
    setup.gateway.served[setup.gateway.sn] = pki.alipay_cert(rsa_key("alipay-3"))  # genuine, but not that one
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport) as client:
        with pytest.raises(ResponseVerificationError, match="returned certificate"):
            await client.execute(QUERY)


async def test_a_trusted_certificate_that_has_expired_since_is_refused(pki: Pki) -> None:
    setup = cert_setup(pki)
    leaf = x509.load_pem_x509_certificates(setup.gateway.signing_cert)[0]

    def later() -> datetime:
        return leaf.not_valid_after_utc + timedelta(days=1)

    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport, clock=later) as client:
        with pytest.raises(ResponseVerificationError, match="not valid now"):
            await client.execute(QUERY)


@pytest.mark.parametrize("member", ['"alipay_cert_sn":"../../etc/passwd",', '"alipay_cert_sn":123,', ""])
async def test_the_cert_sn_member_is_checked_before_anything_is_asked(pki: Pki, member: str) -> None:
    setup = cert_setup(pki)
    node = '{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","out_trade_no":"A1"}'
    sign = rsa2_sign(setup.gateway.signing_key, node.encode())
    body = f'{{"alipay_trade_query_response":{node},{member}"sign":"{sign}"}}'.encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with AlipayClient(setup.credentials, GATEWAY, transport=transport) as client:
        if member:
            with pytest.raises(ResponseVerificationError, match="not a certificate SN"):
                await client.execute(QUERY)
        else:  # no member at all (some error replies): checked against the trusted certificates
            assert (await client.execute(QUERY)).paid


def tampered_download(setup: Setup, change: str) -> httpx.MockTransport:
    """The gateway, with the download reply's signature removed, or made by another key."""

    def handler(request: httpx.Request) -> httpx.Response:
        response = setup.gateway.handler(request)
        if b"alipaycert.download" not in request.url.query:
            return response
        reply = json.loads(response.content)
        if change == "unsigned":
            del reply["sign"]
        else:
            name_ = DOWNLOAD.replace(".", "_") + "_response"
            node = json.dumps(reply[name_], separators=(",", ":"))
            reply["sign"] = rsa2_sign(rsa_key("intruder"), node.encode())
            if change == "signed by an unknown certificate":
                reply["alipay_cert_sn"] = "f" * 32
        return httpx.Response(200, content=json.dumps(reply, separators=(",", ":")).encode())

    return httpx.MockTransport(handler)


async def test_the_download_reply_verifies_with_the_certificate_it_brings(pki: Pki, tmp_path: Path) -> None:
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    setup.gateway.rotate(new_key, pki.alipay_cert(new_key))
    store = AlipayCertStore(tmp_path)
    async with AlipayClient(setup.credentials, GATEWAY, transport=setup.gateway.transport,
                            cert_sink=store.save) as client:  # fmt: skip
        assert (await client.execute(QUERY)).paid
    assert client.protocol.trusts(setup.gateway.sn) and len(store.load()) == 1


@pytest.mark.parametrize("change", ["unsigned", "signed by another key", "signed by an unknown certificate"])
async def test_a_download_reply_not_signed_by_alipay_is_refused_even_when_the_certificate_chains(
    pki: Pki, change: str, tmp_path: Path
) -> None:
    # A genuine certificate (it chains) replayed by someone on the way: the reply carrying it must be Alipay's.
    setup = cert_setup(pki)
    new_key = rsa_key("alipay-2")
    setup.gateway.rotate(new_key, pki.alipay_cert(new_key))
    store = AlipayCertStore(tmp_path)
    async with AlipayClient(setup.credentials, GATEWAY, transport=tampered_download(setup, change),
                            cert_sink=store.save) as client:  # fmt: skip
        with pytest.raises(ResponseVerificationError, match="not trusted"):
            await client.execute(QUERY)
    assert not client.protocol.trusts(setup.gateway.sn) and store.load() == []
