"""The doctor against a healthy store, then against one broken thing at a time: each gives its finding."""

from __future__ import annotations

import json
import os
import pwd
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.cli.main import main
from agent.doctor import CHECK_NAMES, Context, run_doctor
from tests.agent.doctor.conftest import Setup, statuses
from tests.support.daemon import TOKEN, free_port


def test_a_healthy_store_has_no_failure(setup: Setup) -> None:
    found = setup.findings(*(name for name in CHECK_NAMES if name != "systemd"))  # the host's own unit is not ours
    for name in ("config", "key.app_private", "key.alipay_public", "key.ecr_token", "key.outbox", "app_key",
                 "gateway", "clock", "signature", "ecr.port", "ecr.socket", "callback.port", "state_dir", "disk",
                 "database", "outbox", "printer",
                 f"scanner:{setup.scanner.path}", "camera", f"permissions:{setup.scanner.path}"):
        assert found[name].status == "OK", found[name]
    assert all(f.status != "FAIL" for f in found.values())


def test_cli_json_report_and_exit_codes(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--config", str(setup.config), "--json", "--only", "gateway", "printer"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["counts"] == {"OK": 2, "WARN": 0, "FAIL": 0}
    assert [(f["name"], f["status"]) for f in report["findings"]] == [("gateway", "OK"), ("printer", "OK")]
    setup.printer.set_state(paper="end")
    assert main(["doctor", "--config", str(setup.config), "--only", "printer"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  printer" in out and "-> load a paper roll" in out


def test_wrong_app_key_is_rejected_by_the_gateway(setup: Setup) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = setup.root / "keys" / "app_private_key.pem"
    key_file.write_bytes(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    found = setup.findings("keys", "app_key", "signature")
    assert statuses(found) == {"key.app_private": "OK", "key.alipay_public": "OK", "key.ecr_token": "OK",
                               "key.outbox": "OK", "app_key": "OK", "signature": "FAIL"}
    assert "isv.invalid-signature" in found["signature"].message
    assert found["signature"].fix is not None and "console" in found["signature"].fix


def test_world_readable_private_key_fails_with_chmod_fix(setup: Setup) -> None:
    key_file = setup.root / "keys" / "app_private_key.pem"
    os.chmod(key_file, 0o644)
    found = setup.findings("keys", "signature")
    assert found["key.app_private"].status == "FAIL"
    assert "0644" in found["key.app_private"].message
    assert found["key.app_private"].fix == f"chmod 600 {key_file}"
    assert found["signature"].status == "OK"  # the key itself is right: only its mode is wrong


def test_secret_files_the_service_user_does_not_own_fail(setup: Setup) -> None:
    service = pwd.getpwnam("nobody")  # stands for posagent: the files belong to the user running the tests
    report = run_doctor(context=Context(setup.config, service_user=service.pw_name, production=True), only=["keys"])
    found = {f.name: f for f in report.findings}
    assert found["key.app_private"].status == "FAIL" and "not by nobody" in found["key.app_private"].message
    assert found["key.app_private"].fix == f"chown nobody {setup.root / 'keys' / 'app_private_key.pem'}"
    assert found["key.alipay_public"].status == "OK"  # a public key may belong to anyone


def test_a_development_config_is_not_judged_as_the_service_user(setup: Setup) -> None:
    # The demo's case: its files belong to whoever runs it, and a service user exists on the PC (nobody stands
    # for posagent). A config outside /etc/posagent is not the service's: owners are not held against it.
    report = run_doctor(context=Context(setup.config, service_user="nobody"))
    failures = {f.name: f.message for f in report.findings if f.status == "FAIL"}
    assert failures == {}
    found = {f.name: f for f in report.findings}
    assert found["state_dir"].status == "OK" and "nobody" not in found["state_dir"].message
    assert "development config" in found["interpreter"].message and "development config" in found["systemd"].message


def test_the_same_files_under_the_service_config_are_judged_as_the_service_user(setup: Setup) -> None:
    report = run_doctor(context=Context(setup.config, service_user="nobody", production=True))
    failures = {f.name for f in report.findings if f.status == "FAIL"}
    assert {"key.app_private", "key.ecr_token", "key.outbox", "state_dir"} <= failures


@pytest.mark.parametrize(("path", "service"), [
    ("/etc/posagent/agent.toml", True), ("/etc/posagent/../posagent/agent.toml", True),
    ("/etc/posagent-old/agent.toml", False), ("var/demo/agent.toml", False), ("/home/dev/pos/agent.toml", False),
])
def test_the_service_config_is_the_one_under_etc_posagent(path: str, service: bool) -> None:
    assert Context(Path(path)).judges_service is service


def test_gateway_down_fails_reachability_and_skips_what_needs_it(setup: Setup) -> None:
    setup.edit_config(setup.gateway.gateway.url, f"http://127.0.0.1:{free_port()}/gateway.do")
    found = setup.findings("gateway", "clock", "signature")
    assert statuses(found) == {"gateway": "FAIL", "clock": "WARN", "signature": "WARN"}
    assert "cannot reach" in found["gateway"].message
    assert "not checked" in found["signature"].message


def test_skewed_clock_fails_clock_and_explains_the_rejected_request(setup: Setup) -> None:
    found = setup.findings("clock", "signature", clock=lambda: time.time() + 1800)
    assert found["clock"].status == "FAIL"
    assert "ahead of the gateway" in found["clock"].message
    assert found["signature"].status == "FAIL" and "isv.invalid-timestamp" in found["signature"].message


def test_slightly_skewed_clock_only_warns(setup: Setup) -> None:
    found = setup.findings("clock", clock=lambda: time.time() - 400)
    assert found["clock"].status == "WARN" and "behind" in found["clock"].message


def test_printer_out_of_paper_fails(setup: Setup) -> None:
    setup.printer.set_state(paper="end")
    found = setup.findings("printer")
    assert found["printer"].status == "FAIL"
    assert "paper end" in found["printer"].message
    assert found["printer"].fix is not None and "paper roll" in found["printer"].fix


def test_printer_switched_off_fails(setup: Setup) -> None:
    setup.edit_config(f"tcp://127.0.0.1:{setup.printer.port}", f"tcp://127.0.0.1:{free_port()}")
    found = setup.findings("printer")
    assert found["printer"].status == "FAIL" and "cannot open" in found["printer"].message


def test_missing_scanner_fails_with_its_path(setup: Setup) -> None:
    missing = setup.root / "serial" / "by-id" / "usb-Honeywell-if00"
    setup.edit_config(f'path = "{setup.scanner.path}"', f'path = "{missing}"')
    found = setup.findings("scanners")
    finding = found[f"scanner:{missing}"]
    assert finding.status == "FAIL" and "not found" in finding.message


def test_corrupt_database_fails_and_is_left_untouched(setup: Setup) -> None:
    garbage = b"this is not a database" * 100
    for suffix in ("-wal", "-shm"):
        Path(f"{setup.database}{suffix}").unlink(missing_ok=True)
    setup.database.write_bytes(garbage)
    found = setup.findings("database")
    assert found["database"].status == "FAIL" and "corrupt" in found["database"].message
    assert setup.database.read_bytes() == garbage
    assert sorted(p.name for p in setup.database.parent.iterdir()) == ["agent.db"]  # nothing moved aside


def test_missing_database_only_warns(setup: Setup) -> None:
    setup.database.unlink()
    found = setup.findings("database")
    assert found["database"].status == "WARN"
    assert not setup.database.exists()  # the doctor never creates it


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A program that is not the agent on a port: answers one line of HTTP and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()
    thread.join(timeout=5)


def test_ecr_port_held_by_another_program_fails(setup: Setup, foreign_listener: int) -> None:
    setup.edit_config(f"tcp_port = {setup.ecr_port}", f"tcp_port = {foreign_listener}")
    found = setup.findings("ecr")
    assert found["ecr.port"].status == "FAIL" and "another program" in found["ecr.port"].message


def test_invalid_config_fails_and_skips_the_checks_that_need_it(setup: Setup,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    setup.edit_config('app_id = "2021000000000001"', 'app_id = "12"')
    assert main(["doctor", "--config", str(setup.config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  config" in out and "alipay.app_id" in out
    assert "  -> fix what is named above" in out  # the fix, indented under the failure
    assert "signature" not in out and "printer" not in out


def test_secrets_never_appear_in_the_report(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(setup.root / "keys" / "ecr_token", 0o644)  # a finding about the token file, not its content
    main(["doctor", "--config", str(setup.config), "--json", "--only", "keys", "ecr"])
    out = capsys.readouterr().out
    key_text = (setup.root / "keys" / "app_private_key.pem").read_text()
    body = "".join(line for line in key_text.splitlines() if not line.startswith("-----"))
    assert TOKEN not in out
    assert body[:40] not in out
    assert (setup.root / "keys" / "outbox.key").read_text().strip() not in out
