"""The bundle carries what support needs and nothing secret, whatever state the till is in."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest

from agent.support import BundleError, build_bundle
from agent.support import logfiles as logfiles_module
from tests.support.gateway import APP_ID
from tests.support.gateway import Store as GatewayStore

from .conftest import (
    APP_AUTH_TOKEN,
    OLD_LINE,
    PAYMENT_CODE,
    PAYMENT_TAIL,
    PHONE,
    TOKEN,
    Till,
    fake_commands,
    make_till,
    read_bundle,
)


def assert_no_secrets(till: Till, everything: bytes, members: dict[str, str]) -> None:
    for secret in till.secrets():
        leaked = secret.encode() in everything  # computed apart so a failure does not print the archive
        assert not leaked, f"a secret ({secret[:4]}...) is in the archive"
        for name, text in members.items():
            leaked = secret in text
            assert not leaked, f"a secret ({secret[:4]}...) is in {name}"
    assert "PRIVATE KEY" not in everything.decode("utf-8", errors="replace")


def test_no_secret_leaves_the_till_but_the_useful_facts_do(till: Till, tmp_path: Path) -> None:
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands())
    everything, members = read_bundle(result.path)

    assert_no_secrets(till, everything, members)
    assert {"README.txt", "versions.json", "config.toml", "outbox.json", "devices.json", "environment.json",
            "logs/agent.log"} <= set(members)  # fmt: skip
    assert not any(name.endswith((".db", ".key", ".pem", "token")) for name in members)
    outbox = json.loads(members["outbox.json"])
    assert outbox["counts"] == {"card.open": {"pending": 2}, "card.update": {"pending": 1},
                                "payment.reverse": {"dead": 1}}  # fmt: skip
    assert [job["id"] for job in outbox["dead_jobs"]] == [till.dead_job_id]
    assert PAYMENT_TAIL in outbox["dead_jobs"][0]["last_error"]
    assert "payload" not in members["outbox.json"]
    log = members["logs/agent.log"]
    assert PAYMENT_TAIL in log and "138****5678" in log and "agent.sales" in log
    versions = json.loads(members["versions.json"])
    assert versions["posagent"] and versions["libraries"]["httpx"] != "not installed"
    assert "sqlite3 (library)" in versions["libraries"]


def test_the_config_keeps_its_settings_without_secret_ones(till: Till, tmp_path: Path) -> None:
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands())
    config = tomllib.loads(read_bundle(result.path)[1]["config.toml"])
    assert config["store"] == {"id": "SH01", "till_id": "T1", "name": "Test Store"}
    assert config["ecr"]["token_file"] == "<removed>"
    assert config["outbox"]["key_file"] == "<removed>"
    assert config["alipay"]["app_private_key_file"] == "<removed>"
    assert config["alipay"]["app_auth_token_file"] == "<removed>"
    assert config["ecr"]["heartbeat_seconds"] == 1.0 and config["paths"]["state_dir"] == "state"


def test_the_archive_is_named_after_the_till_and_private(till: Till, tmp_path: Path) -> None:
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands(), clock=lambda: 1764111600.0)
    assert result.path == tmp_path / "posagent-support-SH01-T1-20251125T230000Z.tar.gz"
    assert os.stat(result.path).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_logs_older_than_the_window_stay_out(till: Till, tmp_path: Path) -> None:
    recent = read_bundle(build_bundle(till.config, tmp_path, doctor=False, run=fake_commands()).path)[1]
    everything = read_bundle(build_bundle(till.config, tmp_path / "x.tar.gz", doctor=False, since_hours=200,
                                          run=fake_commands()).path)[1]  # fmt: skip
    assert OLD_LINE not in recent["logs/agent.log"] and "started" in recent["logs/agent.log"]
    assert OLD_LINE in everything["logs/agent.log"]


def test_journal_lines_are_redacted_too(till: Till, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    journal = f"2026-11-25T10:00:00+0000 pc posagent[1]: ecr token {TOKEN} code {PAYMENT_CODE} phone {PHONE}\n"
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands(journal))
    everything, members = read_bundle(result.path)
    assert_no_secrets(till, everything, members)
    assert PAYMENT_TAIL in members["logs/journal.txt"]
    assert "logs/journal.txt" in members["README.txt"]


def test_without_journalctl_the_readme_says_so(till: Till, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles_module.shutil, "which", lambda name: None)
    members = read_bundle(build_bundle(till.config, tmp_path, doctor=False, run=fake_commands()).path)[1]
    assert "journalctl not found" in members["README.txt"]
    assert "logs/journal.txt" not in members


def test_doctor_findings_against_the_simulated_gateway(tmp_path: Path, simulated_gateway: GatewayStore) -> None:
    gateway = simulated_gateway.gateway
    # the till is an ISV set-up: the simulator checks its app_auth_token, so the merchant authorizes it
    gateway.authorize_isv(APP_ID, "2021000000000002", app_auth_token=APP_AUTH_TOKEN)
    till = make_till(tmp_path / "till", gateway.url, gateway.alipay_public_key_pem)
    result = build_bundle(till.config, tmp_path, doctor=True, run=fake_commands())
    everything, members = read_bundle(result.path)
    assert_no_secrets(till, everything, members)
    findings = {f["name"]: f["status"] for f in json.loads(members["doctor.json"])["findings"]}
    assert findings["config"] == "OK" and findings["gateway"] == "OK" and findings["signature"] == "OK"
    assert findings["outbox"] == "WARN"  # the dead job waits for a person
    assert "posagent doctor:" in members["doctor.txt"]
    assert "doctor:" in result.summary


def test_a_missing_database_is_a_note(till: Till, tmp_path: Path) -> None:
    till.database.unlink()
    members = read_bundle(build_bundle(till.config, tmp_path, doctor=False, run=fake_commands()).path)[1]
    assert "no database" in json.loads(members["outbox.json"])["note"]
    assert not till.database.exists()  # an observer never creates it


def test_a_corrupt_database_is_noted_and_the_rest_still_goes_in(till: Till, tmp_path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{till.database}{suffix}").unlink(missing_ok=True)
    till.database.write_bytes(b"this is not a database" * 100)
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands())
    members = read_bundle(result.path)[1]
    assert "outbox.json" not in members
    assert "outbox: CorruptDatabase" in members["README.txt"]
    assert "logs/agent.log" in members and "versions.json" in members
    assert till.database.read_bytes().startswith(b"this is not")  # left where it was


def test_an_unparseable_config_gives_its_error_not_its_content(till: Till, tmp_path: Path) -> None:
    till.config.write_text(till.config.read_text() + f'\n[broken\nsecret_thing = "{TOKEN}"\n')
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands())
    everything, members = read_bundle(result.path)
    assert "config.toml" not in members
    assert "not valid TOML" in members["config-error.txt"]
    assert "posagent-support-unknown-unknown-" in result.path.name
    assert_no_secrets(till, everything, members)


def test_an_invalid_but_parseable_config_still_hides_its_secrets(till: Till, tmp_path: Path) -> None:
    till.config.write_text(till.config.read_text().replace('id = "SH01"', 'id = "SH 01!"'))
    result = build_bundle(till.config, tmp_path, doctor=False, run=fake_commands())
    everything, members = read_bundle(result.path)
    assert_no_secrets(till, everything, members)
    assert "not valid" in members["config.toml"] and tomllib.loads(members["config.toml"])["store"]["id"] == "SH 01!"
    assert json.loads(members["outbox.json"])["totals"]["dead"] == 1  # state_dir still found in the raw TOML


def test_a_bundle_that_cannot_be_written_raises(till: Till, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot write"):
        build_bundle(till.config, tmp_path / "no" / "such" / "dir" / "b.tar.gz", doctor=False, run=fake_commands())


def test_a_log_directory_that_is_not_one_is_a_note(till: Till, tmp_path: Path) -> None:
    shutil.rmtree(till.log_file.parent)
    till.log_file.parent.write_text("not a directory")
    members = read_bundle(build_bundle(till.config, tmp_path, doctor=False, run=fake_commands()).path)[1]
    assert "logs: cannot read" in members["README.txt"]
    assert "outbox.json" in members
