"""The chain's private CA and the broker's certificate (`posagent fleet broker-config --make-ca`): what a TLS
client that trusts only that CA accepts, and when a certificate already made may stay."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from relay.provision.pki import (
    PkiError,
    broker_certificate,
    load_issued,
    make_ca,
    parse_hosts,
    pem_certificate,
    pem_private_key,
    still_fits,
)

NOW = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)
HOSTS = ["broker.acme.example", "10.0.0.5", "::1"]


def test_the_broker_certificate_names_every_host_and_is_signed_by_a_ca_that_signs_nothing_below_it() -> None:
    ca = make_ca("acme", NOW)
    broker = broker_certificate(ca, parse_hosts(HOSTS), NOW)
    broker.certificate.verify_directly_issued_by(ca.certificate)
    names = broker.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["broker.acme.example"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("::1")]
    assert broker.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = broker.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True and constraints.path_length == 0
    assert ca.certificate.not_valid_after_utc > broker.certificate.not_valid_after_utc > NOW


def _handshake(tmp_path: Path, server_name: str, *, trust: bytes) -> None:
    """A TLS handshake in memory: the broker's certificate against a client that trusts `trust` only."""
    now = datetime.datetime.now(datetime.UTC)
    ca = make_ca("acme", now)
    broker = broker_certificate(ca, parse_hosts(HOSTS), now)
    (tmp_path / "broker.pem").write_bytes(pem_certificate(broker.certificate))
    (tmp_path / "broker.key").write_bytes(pem_private_key(broker.key))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "broker.pem", tmp_path / "broker.key")
    client_context = ssl.create_default_context(cadata=(trust or pem_certificate(ca.certificate)).decode())
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname=server_name)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(to_server.read())
        to_client.write(server_out.read())
    assert client.version() is not None


@pytest.mark.parametrize("name", ["broker.acme.example", "10.0.0.5"])
def test_a_client_trusting_only_the_chain_s_ca_accepts_the_broker_by_each_of_its_names(tmp_path: Path,
                                                                                       name: str) -> None:  # fmt: skip
    _handshake(tmp_path, name, trust=b"")


def test_a_client_refuses_the_broker_under_another_name_or_with_another_ca(tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        _handshake(tmp_path, "other.acme.example", trust=b"")
    other = pem_certificate(make_ca("other", datetime.datetime.now(datetime.UTC)).certificate)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, "broker.acme.example", trust=other)


@pytest.mark.parametrize("hosts", [[], [""], ["broker example.com"], ["broker.example.com\nlistener 1883"],
                                   ["a/b"], ["-broker.example"], ["x" * 254], ["broker..example"]])  # fmt: skip
def test_hosts_that_are_neither_names_nor_addresses_are_refused(hosts: list[str]) -> None:
    with pytest.raises(PkiError):
        parse_hosts(hosts)


def test_a_certificate_already_made_stays_while_it_fits() -> None:
    ca = make_ca("acme", NOW)
    names = parse_hosts(HOSTS)
    made = broker_certificate(ca, names, NOW).certificate
    assert still_fits(made, ca.certificate, parse_hosts(list(reversed(HOSTS))), NOW)
    assert not still_fits(made, ca.certificate, parse_hosts(["broker.acme.example"]), NOW)  # names changed
    assert not still_fits(made, make_ca("acme", NOW).certificate, names, NOW)  # another CA
    assert not still_fits(made, ca.certificate, names, made.not_valid_after_utc - datetime.timedelta(days=10))


def test_a_key_that_does_not_belong_to_the_certificate_is_refused() -> None:
    ca, other = make_ca("acme", NOW), make_ca("acme", NOW)
    with pytest.raises(PkiError, match="does not belong"):
        load_issued(pem_private_key(other.key), pem_certificate(ca.certificate))
    with pytest.raises(PkiError, match="not a PEM"):
        load_issued(b"garbage", pem_certificate(ca.certificate))
    assert load_issued(pem_private_key(ca.key), pem_certificate(ca.certificate)).certificate == ca.certificate
