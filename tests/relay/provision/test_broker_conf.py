"""The chain's Mosquitto configuration as text: what it says, that each choice is explained beside it,
and what it refuses to write."""

from __future__ import annotations

from dataclasses import replace

import pytest

from relay.provision.broker_conf import BrokerConf, BrokerFiles, local_main_conf, mosquitto_conf

FILES = BrokerFiles("/etc/mosquitto/posagent/passwd", "/etc/mosquitto/posagent/acl",
                    "/etc/mosquitto/posagent/broker.pem", "/etc/mosquitto/posagent/broker.key")  # fmt: skip


def options(text: str) -> list[tuple[str, str]]:
    """(option, value) in order, as Mosquitto reads them: comments and blank lines skipped."""
    lines = [line.split(" ", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line[0], line[1] if len(line) > 1 else "") for line in lines]


def test_two_tls_listeners_no_anonymous_login_the_provisioned_accounts_and_persistence() -> None:
    found = options(mosquitto_conf(BrokerConf(FILES, chain="acme")))
    assert found[0] == ("per_listener_settings", "false")  # before everything it governs
    listener = next(i for i, (name, _) in enumerate(found) if name == "listener")
    general = dict(found[:listener])
    assert general["allow_anonymous"] == "false"
    assert (general["password_file"], general["acl_file"]) == (FILES.password_file, FILES.acl_file)
    assert (general["persistence"], general["autosave_interval"]) == ("true", "1")
    assert int(general["max_queued_messages"]) >= 5000  # a week of slips of a till away
    assert "persistence_location" not in general  # the machine's main config says where
    assert found[listener:] == [
        ("listener", "8883"), ("protocol", "mqtt"), ("certfile", FILES.certfile), ("keyfile", FILES.keyfile),
        ("listener", "443"), ("protocol", "websockets"), ("certfile", FILES.certfile), ("keyfile", FILES.keyfile),
    ]  # fmt: skip


def test_ports_and_the_address_are_the_ones_asked_for() -> None:
    found = options(mosquitto_conf(BrokerConf(FILES, port=18883, ws_port=18443, bind="127.0.0.1",
                                              autosave_interval=60)))  # fmt: skip
    assert [value for name, value in found if name == "listener"] == ["18883 127.0.0.1", "18443 127.0.0.1"]
    assert ("autosave_interval", "60") in found


def test_every_setting_is_explained_by_the_comment_above_it() -> None:
    text = mosquitto_conf(BrokerConf(FILES, chain="acme"))
    for paragraph in text.split("\n\n"):
        assert paragraph.startswith("#"), paragraph
    # No option line carries a trailing comment: Mosquitto would take it as part of the value.
    assert all("#" not in value for _, value in options(text))


@pytest.mark.parametrize(("change", "problem"), [
    ({"port": 0}, "--port: a TCP port"),
    ({"ws_port": 70000}, "--ws-port: a TCP port"),
    ({"ws_port": 8883}, "--ws-port: must differ"),
    ({"bind": "localhost"}, "--bind: 'localhost' is not an IP address"),
    ({"files": replace(FILES, acl_file="/srv/my hq/acl")}, "cannot name a path with spaces"),
    ({"files": replace(FILES, password_file="/srv/hq/passwd\nallow_anonymous true")}, "control characters"),
    ({"autosave_interval": 0}, "autosave_interval"),
])  # fmt: skip
def test_what_would_break_the_config_or_change_its_meaning_is_refused(change: dict[str, object],
                                                                      problem: str) -> None:  # fmt: skip
    conf = replace(BrokerConf(FILES), **change)  # type: ignore[arg-type]
    assert any(problem in line for line in conf.problems()), conf.problems()
    assert BrokerConf(FILES).problems() == []


def test_the_main_config_for_a_broker_run_from_a_folder_includes_the_snippet_and_adds_after_it() -> None:
    text = local_main_conf("/tmp/hq/broker", data_dir="/tmp/run/data", log_file="/tmp/run/mosquitto.log",
                           user="alice", extra=["log_type all"])  # fmt: skip
    assert options(text) == [("user", "alice"), ("persistence_location", "/tmp/run/data/"),
                             ("log_dest", "file /tmp/run/mosquitto.log"), ("include_dir", "/tmp/hq/broker"),
                             ("log_type", "all")]  # fmt: skip
