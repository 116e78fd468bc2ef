"""deploy/install.sh into a temporary root: files, owners and modes; the unit verifies; uninstall keeps data."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
UNINSTALL = ROOT / "deploy" / "uninstall.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh creates a system user: needs root (CI is root)")


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    user = f"posagent-{uuid.uuid4().hex[:6]}"
    target = tmp_path / "root"
    subprocess.run(["bash", str(INSTALL), "--root", str(target), "--user", user, "--skip-venv"], check=True,
                   capture_output=True, text=True)  # fmt: skip
    yield target, user
    subprocess.run(["bash", str(UNINSTALL), "--root", str(target), "--user", user, "--purge"], check=False,
                   capture_output=True)  # fmt: skip


def owner_mode(path: Path) -> tuple[str, int]:
    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, stat.S_IMODE(info.st_mode)


def test_files_have_the_right_owners_and_modes(installed: tuple[Path, str]) -> None:
    root, user = installed
    etc = root / "etc/posagent"
    assert owner_mode(etc / "ecr_token") == (user, 0o600)
    assert owner_mode(etc / "outbox.key") == (user, 0o600)
    assert owner_mode(etc / "keys") == (user, 0o750)
    assert owner_mode(etc / "agent.toml") == ("root", 0o640)
    assert owner_mode(root / "var/lib/posagent") == (user, 0o750)
    assert owner_mode(root / "etc/systemd/system/posagent.service") == ("root", 0o644)
    assert (root / "etc/udev/rules.d/60-posagent.rules").is_file()
    assert os.readlink(root / "usr/local/bin/posagent") == "/opt/posagent/venv/bin/posagent"
    assert len((etc / "ecr_token").read_text().strip()) >= 32
    unit = (root / "etc/systemd/system/posagent.service").read_text()
    assert f"User={user}" in unit and "Type=notify" in unit and "WatchdogSec=" in unit


def test_the_generated_keys_are_what_the_agent_reads(installed: tuple[Path, str]) -> None:
    from offline_queue import load_key_file

    root, _ = installed
    load_key_file(root / "etc/posagent/outbox.key")  # the format and mode the outbox accepts


def test_reinstall_keeps_config_and_secrets(installed: tuple[Path, str]) -> None:
    root, user = installed
    token = (root / "etc/posagent/ecr_token").read_text()
    (root / "etc/posagent/agent.toml").write_text("# edited by the technician\n")
    subprocess.run(["bash", str(INSTALL), "--root", str(root), "--user", user, "--skip-venv"], check=True,
                   capture_output=True)  # fmt: skip
    assert (root / "etc/posagent/ecr_token").read_text() == token
    assert (root / "etc/posagent/agent.toml").read_text() == "# edited by the technician\n"


def test_uninstall_keeps_data_unless_purged(installed: tuple[Path, str]) -> None:
    root, user = installed
    subprocess.run(["bash", str(UNINSTALL), "--root", str(root), "--user", user], check=True, capture_output=True)
    assert not (root / "etc/systemd/system/posagent.service").exists()
    assert not (root / "opt/posagent").exists()
    assert not (root / "usr/local/bin/posagent").is_symlink()
    assert (root / "etc/posagent/ecr_token").exists() and (root / "var/lib/posagent").exists()


def test_the_unit_verifies(tmp_path: Path) -> None:
    # The unit as installed, pointed at this checkout's posagent so the ExecStart check finds a binary.
    posagent = Path(sys.executable).parent / "posagent"
    unit = (ROOT / "agent.service").read_text().replace("/opt/posagent/venv/bin/posagent", str(posagent))
    unit = unit.replace("User=posagent", "User=root").replace("Group=posagent", "Group=root")
    path = tmp_path / "posagent.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(path)], check=False, capture_output=True,
                              text=True)  # fmt: skip
    assert "Overall exposure level" in security.stdout
