"""The relay's config: every mistake named by its key, as the agent's config check names them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from agent.alipay.keys import generate_app_key_pair, read_private_key_file
from agent.config import parse_config
from agent.config.schema import ConfigError
from relay.config import exchange_cert_store, load_relay_config, load_secrets, load_viewer_config
from tests.support.certs import Pki, expected_sn, new_pki, pem, rsa_key

GOOD = """\
[relay]
public_url = "https://cards.example.com/alipay/open-card"
[chain]
id = "acme"
app_id = "2021000000000001"
template_ids = ["20240101000000000001"]
[broker]
url = "mqtts://broker.example.com:8883"
password_file = "relay_password"
[keys]
dir = "keys"
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "relay.toml").write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_relay_config(tmp_path / "relay.toml")
    return [str(p) for p in refused.value.problems]


def test_a_good_config_has_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text(GOOD)
    config = load_relay_config(tmp_path / "relay.toml")
    assert (config.relay.port, config.relay.path, config.broker.username) == (8080, "/alipay/open-card", "relay")
    assert config.keys.dir == tmp_path / "keys" and config.exchange is None
    assert (config.limits.per_source_per_minute, config.limits.total_per_minute) == (10.0, 600.0)
    assert str(config.broker.address) == "mqtts://broker.example.com:8883"


def test_an_empty_file_names_every_required_setting(tmp_path: Path) -> None:
    found = problems(tmp_path, "")
    for key in ("relay.public_url", "chain.id", "chain.app_id", "chain.template_ids", "broker.url",
                "broker.password_file", "keys.dir"):  # fmt: skip
        assert any(p.startswith(f"{key}: required") for p in found), (key, found)


@pytest.mark.parametrize(("edit", "expected"), [
    (("id = \"acme\"", "id = \"ac/me\""), "chain.id: 1-16 letters or digits"),
    (("app_id = \"2021000000000001\"", "app_id = \"2021\""), "chain.app_id: an Alipay app id is 16 digits"),
    (("[\"20240101000000000001\"]", "[]"), "chain.template_ids: at least one card template id"),
    (("[\"20240101000000000001\"]", "[\"T1\"]"), "chain.template_ids: 'T1' is not a template id"),
    (("mqtts://broker.example.com:8883", "mqtt://broker.example.com"), "broker.url: mqtt:// is not encrypted"),
    (("mqtts://broker.example.com:8883", "http://broker.example.com"), "broker.url: use mqtts://"),
    (("https://cards.example.com/alipay/open-card", "cards.example.com"), "relay.public_url: the public https://"),
    (("[keys]", "[metrics]\nhost = \"0.0.0.0\"\n[keys]"), "metrics.token_file: a metrics listener beyond"),
    (("[keys]", "[relay.x]\n[keys]"), "relay.x: unknown setting"),
    (("[keys]", "[limits]\ntotal_per_minute = -1\n[keys]"), "limits.total_per_minute: must be greater than 0"),
    (("[chain]", "trusted_proxies = [\"10.0.0.0/33\"]\n[chain]"), "relay.trusted_proxies: '10.0.0.0/33' is not"),
    (("[keys]", "[exchange]\ngateway = \"nope\"\n[keys]"), "exchange.app_private_key_file: required"),
])  # fmt: skip
def test_each_mistake_is_named_by_its_key(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    found = problems(tmp_path, GOOD.replace(*edit))
    assert any(p.startswith(expected) for p in found), found


def test_the_files_it_names_are_checked_and_named_too(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text(GOOD + "[exchange]\napp_private_key_file = \"app.pem\"\n"
                                         "alipay_public_key_file = \"alipay.pem\"\n")  # fmt: skip
    (tmp_path / "relay_password").write_text("secret\n")
    (tmp_path / "relay_password").chmod(0o644)
    config = load_relay_config(tmp_path / "relay.toml")
    with pytest.raises(ConfigError) as refused:
        load_secrets(config, "relay.toml")
    found = [str(p) for p in refused.value.problems]
    assert any(p.startswith("broker.password_file:") and "chmod 600" in p for p in found), found
    assert any(p.startswith("keys.dir:") and "not a folder" in p for p in found), found
    assert any(p.startswith("exchange.app_private_key_file:") and "not found" in p for p in found), found
    assert any(p.startswith("exchange.alipay_public_key_file:") for p in found), found
    assert not any("secret" in p for p in found)


def test_a_viewer_config_needs_only_the_chain_id_and_the_broker(tmp_path: Path) -> None:
    (tmp_path / "viewer.toml").write_text('[chain]\nid = "acme"\n[broker]\nurl = "wss://b.example.com/mqtt"\n'
                                          'username = "viewer"\npassword_file = "p"\n[anything]\nelse = 1\n')  # fmt: skip
    config = load_viewer_config(tmp_path / "viewer.toml")
    assert config.chain.id == "acme" and config.broker.address.transport == "websockets"
    assert config.broker.address.port == 443


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "relay.example.toml"
    config = load_relay_config(example)
    assert config.chain.id == "acme" and config.relay.trusted_proxies == ["10.0.0.0/8"] and config.exchange is None


# --- [exchange] in certificate mode: the agent's own rules and messages, `exchange.<setting>: ...` -----------

CERT_EXCHANGE = """[exchange]
app_private_key_file = "keys/app_private_key.pem"
app_cert_file = "keys/appCertPublicKey.crt"
alipay_cert_file = "keys/alipayCertPublicKey_RSA2.crt"
alipay_root_cert_file = "keys/alipayRootCert.crt"
"""


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


def cert_mode_relay(tmp_path: Path, pki: Pki, **override: bytes) -> Path:
    """A relay with [exchange] in certificate mode: the app's key and the console's three files in keys/."""
    pair = generate_app_key_pair(tmp_path / "keys")
    files = {"appCertPublicKey.crt": pki.app_cert(read_private_key_file(pair.private_key_path)),
             "alipayCertPublicKey_RSA2.crt": pki.alipay_cert(rsa_key("alipay-1")),
             "alipayRootCert.crt": pki.root_bundle} | override  # fmt: skip
    for name, data in files.items():
        (tmp_path / "keys" / name).write_bytes(data)
    (tmp_path / "relay_password").write_text("secret\n")
    (tmp_path / "relay_password").chmod(0o600)
    (tmp_path / "relay.toml").write_text(GOOD + CERT_EXCHANGE)
    return tmp_path / "relay.toml"


def test_exchange_in_certificate_mode_is_accepted(tmp_path: Path, pki: Pki) -> None:
    config = load_relay_config(cert_mode_relay(tmp_path, pki))
    assert config.exchange is not None and config.exchange.alipay_public_key_file is None
    credentials = load_secrets(config, "relay.toml").exchange
    assert credentials is not None and credentials.cert_mode is not None
    assert credentials.app_id == "2021000000000001"
    app_cert = x509.load_pem_x509_certificates((tmp_path / "keys/appCertPublicKey.crt").read_bytes())[0]
    assert credentials.cert_mode.app_cert_sn == expected_sn(app_cert)
    assert exchange_cert_store(config).directory == tmp_path / "keys" / "alipay_certs"


@pytest.mark.parametrize(("section", "key", "words"), [
    ('[exchange]\napp_private_key_file = "k.pem"\n', "exchange.alipay_public_key_file", "certificate mode"),
    (CERT_EXCHANGE + 'alipay_public_key_file = "a.pem"\n', "exchange.app_cert_file", "not both"),
    (CERT_EXCHANGE + 'alipay_public_key_file = "a.pem"\n', "exchange.alipay_root_cert_file", "not both"),
    ('[exchange]\napp_private_key_file = "k.pem"\napp_cert_file = "a.crt"\n', "exchange.alipay_cert_file",
     "required in certificate mode"),
])  # fmt: skip
def test_exchange_takes_exactly_one_mode_as_the_agent_does(tmp_path: Path, section: str, key: str,
                                                           words: str) -> None:  # fmt: skip
    found = problems(tmp_path, GOOD + section)
    assert any(p.startswith(f"{key}:") and words in p for p in found), found
    # The same message as the agent's [alipay] for the same mistake.
    agent_text = "[alipay]\napp_id = \"2021000000000001\"\n" + section.removeprefix("[exchange]\n")
    with pytest.raises(ConfigError) as agent_refused:
        parse_config(agent_text, source="agent.toml", base_dir=tmp_path)
    setting_name = key.removeprefix("exchange.")
    agent_messages = {p.key: p.message for p in agent_refused.value.problems}
    assert any(p == f"{key}: {agent_messages[f'alipay.{setting_name}']}" for p in found), (found, agent_messages)


def test_exchange_files_mixed_up_are_refused_naming_the_setting(tmp_path: Path, pki: Pki) -> None:
    cases = {
        "Alipay's certificate given as the app's": ({"appCertPublicKey.crt": pki.alipay_cert(rsa_key("alipay-1"))},
                                                    "exchange.app_cert_file", "does not match the app private key"),
        "the RSA root given as Alipay's certificate": ({"alipayCertPublicKey_RSA2.crt": pem(pki.rsa_root.cert)},
                                                        "exchange.alipay_cert_file", "is a CA certificate"),
        "Alipay's certificate given as the root bundle": (
            {"alipayRootCert.crt": pki.alipay_cert(rsa_key("alipay-1"))}, "exchange.alipay_root_cert_file",
            "not a root"),
        "a root bundle of another PKI": ({"alipayRootCert.crt": new_pki("other").root_bundle},
                                         "exchange.alipay_cert_file", "does not chain"),
    }  # fmt: skip
    for index, (case, (override, key, words)) in enumerate(cases.items()):
        folder = tmp_path / str(index)
        folder.mkdir()
        config = load_relay_config(cert_mode_relay(folder, pki, **override))
        with pytest.raises(ConfigError) as refused:
            load_secrets(config, "relay.toml")
        (problem,) = refused.value.problems
        assert (problem.key, words in problem.message) == (key, True), (case, str(problem))
        assert problem.fix and "docs/operations.md" in problem.fix


def test_relay_run_refuses_mixed_up_files_with_one_line_naming_the_setting(tmp_path: Path, pki: Pki) -> None:
    config = cert_mode_relay(tmp_path, pki, **{"appCertPublicKey.crt": pki.alipay_cert(rsa_key("alipay-1"))})
    run = subprocess.run([sys.executable, "-m", "agent.cli.main", "relay", "run", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "exchange.app_cert_file:" in run.stderr and "Traceback" not in run.stderr
    assert "PRIVATE KEY" not in run.stderr + run.stdout
