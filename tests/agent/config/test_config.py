"""The config file: typed sections, every problem named by its key, relative paths, credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.alipay.keys import generate_app_key_pair
from agent.config import ConfigError, describe, load_config, load_credentials, parse_config
from agent.config.model import AgentConfig
from agent.config.schema import FieldDoc

GOOD = """
[alipay]
app_id = "2021000000000001"
app_private_key_file = "keys/app_private_key.pem"
alipay_public_key_file = "keys/alipay_public_key.pem"
gateway = "sandbox"

[store]
id = "SH01"
till_id = "T2"
"""


def test_a_good_file_loads_with_defaults_and_paths_relative_to_it(tmp_path: Path) -> None:
    config = parse_config(GOOD, source="agent.toml", base_dir=tmp_path)
    assert config.alipay.app_private_key_file == tmp_path / "keys/app_private_key.pem"
    assert config.alipay.read_timeout == 15.0
    assert config.store.id == "SH01"
    assert config.paths.state_dir == Path("/var/lib/posagent")


def test_every_problem_names_its_key(tmp_path: Path) -> None:
    text = """
[alipay]
app_id = "12345"
gateway = "ftp://x"
read_timeout = "soon"
app_privte_key_file = "k.pem"

[store]
id = "bad id!"
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="agent.toml", base_dir=tmp_path)
    messages = {p.key: p.message for p in info.value.problems}
    assert "16 digits" in messages["alipay.app_id"]
    assert "production" in messages["alipay.gateway"]
    assert "number" in messages["alipay.read_timeout"]
    assert "did you mean 'app_private_key_file'" in messages["alipay.app_privte_key_file"]
    assert "letters or digits" in messages["store.id"]
    assert "agent.toml" in str(info.value)


def test_missing_section_and_invalid_toml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("", source="a.toml", base_dir=tmp_path)
    assert {p.key for p in info.value.problems} >= {"alipay.app_id"}
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[alipay\n", source="a.toml", base_dir=tmp_path)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="POSAGENT_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_credentials_load_and_refuse_a_world_readable_key(tmp_path: Path) -> None:
    pair = generate_app_key_pair(tmp_path / "keys")
    (tmp_path / "keys/alipay_public_key.pem").write_bytes(pair.public_key_path.read_bytes())
    (tmp_path / "agent.toml").write_text(GOOD)
    config = load_config(tmp_path / "agent.toml")
    assert load_credentials(config.alipay).app_id == "2021000000000001"
    os.chmod(pair.private_key_path, 0o640)
    with pytest.raises(ConfigError) as info:
        load_credentials(config.alipay)
    assert info.value.problems[0].key == "alipay.app_private_key_file"
    assert "chmod 600" in info.value.problems[0].message


def test_every_setting_is_documented() -> None:
    fields = describe(AgentConfig)
    assert {f.key for f in fields} >= {"alipay.app_id", "alipay.gateway", "store.till_id", "paths.state_dir"}
    assert all(f.doc for f in fields)


def test_the_configuration_reference_is_up_to_date() -> None:
    from agent.config.reference import render

    reference = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
    assert reference.read_text() == render(), "run: python -m agent.config.reference > docs/configuration.md"


@pytest.mark.parametrize(
    ("key", "line", "value"),
    [
        ("alipay.app_id", 'app_id = "2021000000000001"', "２０２１０００００００００００１"),  # full-width digits
        ("alipay.app_id", 'app_id = "2021000000000001"', "2021000000000001\\n"),
        ("alipay.app_id", 'app_id = "2021000000000001"', "٢٠٢١٠٠٠٠٠٠٠٠٠٠٠١"),  # Arabic-Indic digits
        ("store.id", 'id = "SH01"', "SH01\\n"),
    ],
)
def test_ids_take_ascii_only_and_no_trailing_newline(tmp_path: Path, key: str, line: str, value: str) -> None:
    name = line.split(" = ", maxsplit=1)[0]
    text = GOOD.replace(line, f'{name} = "{value}"')
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="agent.toml", base_dir=tmp_path)
    assert key in {p.key for p in info.value.problems}


# ---- numbers: every numeric setting has a range, and a value outside it is an error naming its key ----

NUMERIC = [f for f in describe(AgentConfig) if "integer" in f.type or "number" in f.type]
# What an optional table needs besides the setting under test.
REQUIRED_IN = {"printer": 'uri = "tcp://127.0.0.1:9100"', "scanners[]": 'path = "/dev/ttyACM0"',
               "camera": 'source = "/dev/video0"', "members": 'template_id = "20240101000000000001"',
               "fleet": 'chain = "acme"\nbroker = "mqtts://broker.example.com"'}  # fmt: skip


def with_setting(key: str, value: str) -> str:
    section, name = key.rsplit(".", 1)
    header = f"[[{section[:-2]}]]" if section.endswith("[]") else f"[{section}]"
    lines = [f"{name} = {value}"]
    if section in REQUIRED_IN and not REQUIRED_IN[section].startswith(name):
        lines.append(REQUIRED_IN[section])
    base = GOOD if section != "alipay" else GOOD.replace('gateway = "sandbox"', 'gateway = "sandbox"\n' + lines[0])
    return base if section == "alipay" else base + f"\n{header}\n" + "\n".join(lines) + "\n"


def test_every_numeric_setting_declares_its_range() -> None:
    assert NUMERIC and all(f.range is not None for f in NUMERIC), [f.key for f in NUMERIC if f.range is None]


@pytest.mark.parametrize("field", NUMERIC, ids=[f.key for f in NUMERIC])
def test_a_number_out_of_range_is_an_error_naming_its_key(tmp_path: Path, field: FieldDoc) -> None:
    assert field.range is not None
    bad = [str(int(field.range.low) - 1), str(int(field.range.high) + 1)]
    if "number" in field.type:
        bad += ["nan", "inf", "-inf"]
        if field.range.above:
            bad.append(str(field.range.low))
    for value in bad:
        with pytest.raises(ConfigError) as info:
            parse_config(with_setting(field.key, value), source="agent.toml", base_dir=tmp_path)
        expected = field.key.replace("[]", "[0]")  # the first (only) [[scanners]] table
        assert [p.key for p in info.value.problems] == [expected], (value, info.value.problems)
    good = str(field.range.high if "integer" not in field.type else int(field.range.high))
    parse_config(with_setting(field.key, good), source="agent.toml", base_dir=tmp_path)  # the bound itself is fine


@pytest.mark.parametrize(("key", "value", "words"), [
    ("outbox.concurrency", "0", "from 1 to 64"),
    ("outbox.max_pending", "-1", "from 1 to 10_000_000"),
    ("ecr.tcp_port", "70000", "from 0 to 65535"),
    ("alipay.read_timeout", "0", "greater than 0"),
    ("members.initial_points", '"-5"', "at most 2 decimals"),
    ("members.initial_balance", '"1e3"', "at most 2 decimals"),
    ("ecr.unix_group", '""', "a group name"),
])  # fmt: skip
def test_the_refusal_says_what_is_allowed(tmp_path: Path, key: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_setting(key, value), source="agent.toml", base_dir=tmp_path)
    assert [p.key for p in info.value.problems] == [key]
    assert words in info.value.problems[0].message


# ---- [fleet] ------------------------------------------------------------------------------------------


def test_a_fleet_section_needs_only_the_chain_and_the_broker(tmp_path: Path) -> None:
    config = parse_config(GOOD + '[fleet]\nchain = "acme"\nbroker = "wss://broker.example.com/mqtt"\n',
                          source="agent.toml", base_dir=tmp_path)  # fmt: skip
    assert config.fleet is not None
    assert (config.fleet.key_file, config.fleet.password_file) == (Path("/etc/posagent/fleet.key"),
                                                                   Path("/etc/posagent/fleet_password"))  # fmt: skip
    assert (config.fleet.username, config.fleet.client_id, config.fleet.ca_file) == (None, None, None)
    assert config.fleet.session_expiry_hours == 168.0 and config.fleet.status_interval_seconds == 5.0
    assert parse_config(GOOD, source="agent.toml", base_dir=tmp_path).fleet is None  # off when absent


@pytest.mark.parametrize(("line", "key", "words"), [
    ('chain = "ac-me"', "fleet.chain", "letters or digits"),
    ('broker = "mqtt://broker.example.com"', "fleet.broker", "not encrypted"),
    ('broker = "mqtts://till:pw@broker.example.com"', "fleet.broker", "no user or password"),
    ('client_id = "till one"', "fleet.client_id", "letters, digits"),
    ('username = ""', "fleet.username", "letters, digits"),
    ('key_file = "keys/outbox.key"', "fleet.key_file", "must not be the outbox key"),
])  # fmt: skip
def test_fleet_settings_that_cannot_work_are_refused(tmp_path: Path, line: str, key: str, words: str) -> None:
    fields = {"chain": 'chain = "acme"', "broker": 'broker = "mqtts://broker.example.com"'}
    fields[line.split(" = ", maxsplit=1)[0]] = line
    text = GOOD + '\n[outbox]\nkey_file = "keys/outbox.key"\n\n[fleet]\n' + "\n".join(fields.values()) + "\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="agent.toml", base_dir=tmp_path)
    assert [p.key for p in info.value.problems] == [key]
    assert words in info.value.problems[0].message


# ---- turning an ECR listener off: `false`, as the reference says; never both -----------------------


@pytest.mark.parametrize(
    ("line", "tcp_port", "unix_socket"),
    [("tcp_port = false", None, Path("/run/posagent/ecr.sock")), ("unix_socket = false", 7410, None),
     ("tcp_port = 0", 0, Path("/run/posagent/ecr.sock"))],
)  # fmt: skip
def test_false_turns_an_ecr_listener_off(tmp_path: Path, line: str, tcp_port: int | None,
                                         unix_socket: Path | None) -> None:  # fmt: skip
    config = parse_config(GOOD + f"\n[ecr]\n{line}\n", source="agent.toml", base_dir=tmp_path)
    assert (config.ecr.tcp_port, config.ecr.unix_socket) == (tcp_port, unix_socket)


@pytest.mark.parametrize("line", ['tcp_port = ""', 'unix_socket = ""', "tcp_port = true"])
def test_other_ways_to_turn_a_listener_off_are_refused_saying_false_does(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD + f"\n[ecr]\n{line}\n", source="agent.toml", base_dir=tmp_path)
    assert "false turns it off" in str(caught.value)


def test_both_listeners_off_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD + "\n[ecr]\ntcp_port = false\nunix_socket = false\n", source="agent.toml", base_dir=tmp_path)
    assert [p.key for p in caught.value.problems] == ["ecr.tcp_port"]
    assert "both off" in str(caught.value)


def test_the_websocket_is_off_unless_given_a_port_of_its_own(tmp_path: Path) -> None:
    assert parse_config(GOOD, source="agent.toml", base_dir=tmp_path).ecr.websocket_port is None
    on = parse_config(GOOD + "\n[ecr]\nwebsocket_port = 7412\n", source="agent.toml", base_dir=tmp_path)
    assert on.ecr.websocket_port == 7412
    off = parse_config(GOOD + "\n[ecr]\nwebsocket_port = false\n", source="agent.toml", base_dir=tmp_path)
    assert off.ecr.websocket_port is None
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD + "\n[ecr]\ntcp_port = 7410\nwebsocket_port = 7410\n", source="agent.toml",
                     base_dir=tmp_path)  # fmt: skip
    assert [p.key for p in caught.value.problems] == ["ecr.websocket_port"]


def test_only_settings_that_say_so_can_be_turned_off_with_false(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD + "\n[ecr]\nunix_group = false\n", source="agent.toml", base_dir=tmp_path)
    assert "ecr.unix_group" in str(caught.value)
