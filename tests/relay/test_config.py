"""The relay's config: every mistake named by its key, as the agent's config check names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.schema import ConfigError
from relay.config import load_relay_config, load_secrets, load_viewer_config

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
