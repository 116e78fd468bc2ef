"""The doctor's judgements as pure functions, and the checks that need no gateway."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay.keys import public_key_pem
from agent.doctor import Context, Finding, Status
from agent.doctor.checks import Check
from agent.doctor.checks.database import judge_outbox, judge_size
from agent.doctor.checks.devices import judge_printer
from agent.doctor.checks.files import judge_secret_mode
from agent.doctor.checks.gateway import clock_skew, judge_skew
from agent.doctor.checks.permissions import User, can_access
from agent.doctor.checks.systemd import check_systemd, judge_unit, parse_show
from agent.doctor.runner import run_check
from drivers.printer import PrinterStatus
from offline_queue import Stats
from tests.agent.doctor.conftest import Setup

READY = PrinterStatus(online=True, cover_open=False, paper_end=False, paper_near_end=False, error=False,
                      recoverable_error=False)


@pytest.mark.parametrize(("skew", "status"), [(0, "OK"), (-299, "OK"), (301, "WARN"), (-899, "WARN"),
                                              (901, "FAIL"), (-1800, "FAIL")])
def test_clock_skew_windows(skew: float, status: str) -> None:
    assert judge_skew(skew).status == status


def test_clock_skew_from_an_http_date() -> None:
    assert clock_skew("Wed, 25 Nov 2026 21:00:00 GMT", 1795640400.0 + 600) == 600


@pytest.mark.parametrize(("mode", "group_tolerated", "status"), [
    (0o600, False, None), (0o400, False, None), (0o640, False, "FAIL"), (0o644, False, "FAIL"),
    (0o640, True, "WARN"), (0o604, True, "FAIL"),
])
def test_secret_file_modes(mode: int, group_tolerated: bool, status: str | None) -> None:
    finding = judge_secret_mode("key", Path("/k"), stat.S_IFREG | mode, group_tolerated=group_tolerated)
    assert (finding.status.value if finding else None) == status


def test_permission_bits_owner_group_other_and_root() -> None:
    dialout, alice = 20, User("posagent", 999, frozenset({999, 20}))
    assert can_access(0o660, 0, dialout, alice, write=True)
    assert not can_access(0o600, 0, dialout, alice, write=False)
    assert can_access(0o640, 0, dialout, alice, write=False) and not can_access(0o640, 0, dialout, alice, write=True)
    assert not can_access(0o066, 999, dialout, alice, write=False)  # owner bits win, even when they say no
    assert can_access(0o000, 0, 0, User("root", 0, frozenset()), write=True)


@pytest.mark.parametrize(("status", "answers", "verdict", "text"), [
    (READY, True, "OK", "ready"),
    (PrinterStatus(online=True, cover_open=False, paper_end=False, paper_near_end=True, error=False,
                   recoverable_error=False), True, "WARN", "near end"),
    (PrinterStatus(online=False, cover_open=True, paper_end=False, paper_near_end=False, error=False,
                   recoverable_error=False), True, "FAIL", "cover open"),
    (PrinterStatus(), True, "FAIL", "did not answer"),
    (PrinterStatus(), False, "WARN", "not checked"),
    (PrinterStatus(foreign_reply=True), True, "FAIL", "not an ESC/POS printer at this address"),
    (PrinterStatus(foreign_reply=True), False, "FAIL", "not an ESC/POS printer"),  # blind printing does not help
])
def test_printer_verdicts(status: PrinterStatus, answers: bool, verdict: str, text: str) -> None:
    finding = judge_printer(status, answers_status=answers)
    assert finding.status == verdict and text in finding.message


def test_a_foreign_reply_points_at_the_address_and_the_raw_port() -> None:
    finding = judge_printer(PrinterStatus(foreign_reply=True), answers_status=True)
    assert "[printer] uri" in finding.fix and "9100" in finding.fix


def test_database_size_against_its_cap() -> None:
    mib = 1024 * 1024
    assert judge_size(10 * mib, 512).status == "OK"
    assert judge_size(450 * mib, 512).status == "WARN"
    assert judge_size(512 * mib, 512).status == "FAIL"


def test_outbox_backlog_dead_letters_and_stuck_jobs() -> None:
    assert judge_outbox(Stats({"card.update": {"pending": 3}}, 60.0, 0), 100).status == "OK"
    dead = judge_outbox(Stats({"card.open": {"dead": 2}}, None, 0), 100)
    assert dead.status == "WARN" and "dead 2" in dead.message and "queue retry" in (dead.fix or "")
    assert judge_outbox(Stats({"card.update": {"pending": 1}}, 7200.0, 0), 100).status == "WARN"
    assert judge_outbox(Stats({"card.update": {"pending": 100}}, 5.0, 0), 100).status == "FAIL"


def test_systemd_unit_states() -> None:
    def show(active: str, load: str = "loaded", restarts: str = "0") -> Finding:
        return judge_unit("posagent", {"LoadState": load, "ActiveState": active, "SubState": "x",
                                       "NRestarts": restarts})
    assert show("active").status == "OK"
    assert show("active", restarts="4").status == "WARN"
    assert show("failed").status == "FAIL"
    assert show("inactive").status == "WARN"
    assert show("inactive", load="not-found").status == "FAIL"
    assert parse_show("LoadState=loaded\nActiveState=active\n") == {"LoadState": "loaded", "ActiveState": "active"}


def test_systemd_check_asks_systemctl_or_says_it_is_not_there(tmp_path: Path) -> None:
    ctx = Context(tmp_path / "agent.toml", production=True)
    asked: list[list[str]] = []

    def systemctl(args: list[str]) -> str:
        asked.append(args)
        return "LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=5\n"

    [finding] = check_systemd(ctx, run=systemctl, booted=lambda: True)
    assert finding.status == "FAIL" and asked[0][:2] == ["show", "posagent"]
    [outside] = check_systemd(ctx, run=systemctl, booted=lambda: False)
    assert outside.status == "WARN" and "not under systemd" in outside.message
    [development] = check_systemd(Context(tmp_path / "agent.toml"), run=systemctl, booted=lambda: True)
    assert development.status == "OK" and "development config" in development.message and len(asked) == 1


def test_a_check_that_raises_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    def broken(ctx: Context) -> list[Finding]:
        raise RuntimeError("driver bug")

    [finding] = run_check(Check("printer", broken), Context(tmp_path / "agent.toml"))
    assert finding.status is Status.FAIL and "driver bug" in finding.message


def test_alipay_public_key_that_is_the_apps_own_key_fails(setup: Setup) -> None:
    from tests.support.gateway import _APP_KEY

    (setup.root / "keys" / "alipay_public_key.pem").write_bytes(public_key_pem(_APP_KEY.public_key()))
    found = setup.findings("app_key")
    assert found["app_key"].status == "FAIL" and "app's own public key" in found["app_key"].message


def test_app_public_key_of_another_pair_next_to_the_private_key_fails(setup: Setup) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (setup.root / "keys" / "app_public_key.pem").write_bytes(public_key_pem(other.public_key()))
    assert setup.findings("app_key")["app_key"].status == "FAIL"


def test_matching_app_public_key_is_ok(setup: Setup) -> None:
    from tests.support.gateway import _APP_KEY

    (setup.root / "keys" / "app_public_key.pem").write_bytes(public_key_pem(_APP_KEY.public_key()))
    found = setup.findings("app_key")
    assert found["app_key"].status == "OK" and "app_public_key.pem matches" in found["app_key"].message


def test_camera_giving_a_frame_is_ok(setup: Setup) -> None:
    from hardware_sim.camera import Scene, render, write_image

    frame_file = setup.root / "camera.png"
    write_image(frame_file, render(Scene(content="LOTUS0000000001")))
    setup.config.write_text(setup.config.read_text() + f'\n[camera]\nsource = "{frame_file}"\n')
    found = setup.findings("camera")
    assert found["camera"].status == "OK" and "frame" in found["camera"].message


def test_missing_camera_fails(setup: Setup) -> None:
    setup.config.write_text(setup.config.read_text() + f'\n[camera]\nsource = "{setup.root / "no-video0"}"\n')
    found = setup.findings("camera")
    assert found["camera"].status == "FAIL"


def test_device_node_verdict_names_the_udev_rule() -> None:
    from agent.doctor.checks.permissions import judge_node

    root_only = os.stat_result((stat.S_IFCHR | 0o600, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    dialout = os.stat_result((stat.S_IFCHR | 0o660, 0, 0, 1, 0, 20, 0, 0, 0, 0))
    service = User("posagent", 999, frozenset({999, 20}))
    refused = judge_node("/dev/ttyACM0", root_only, service, write=True)
    assert refused.name == "permissions:/dev/ttyACM0" and refused.status == "FAIL"
    assert "deploy/udev/60-posagent.rules" in (refused.fix or "")
    assert judge_node("/dev/ttyACM0", dialout, service, write=True).status == "OK"
