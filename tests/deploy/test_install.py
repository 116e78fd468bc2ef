"""deploy/install.sh into a temporary root: files, owners and modes; the account in the root's own /etc/passwd
(the host's users are never touched); the virtualenv runs from its final path; uninstall keeps data."""

from __future__ import annotations

import os
import shutil
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
HOST_ACCOUNTS = [Path("/etc") / name for name in ("passwd", "group", "shadow", "gshadow")]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh runs as root (CI is root)")


def host_accounts() -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in HOST_ACCOUNTS if path.exists()}


@pytest.fixture
def untouched_host() -> Iterator[None]:
    """Fails the test if the host's users or groups changed while it ran."""
    before = host_accounts()
    yield
    assert host_accounts() == before, "the host's /etc/passwd, group, shadow or gshadow changed"


@pytest.fixture
def installed(tmp_path: Path, untouched_host: None) -> Iterator[tuple[Path, str]]:
    user = f"posagent-{uuid.uuid4().hex[:6]}"  # a name no host has: a host account would be easy to spot
    target = tmp_path / "root"
    subprocess.run(["bash", str(INSTALL), "--root", str(target), "--user", user, "--skip-venv"], check=True,
                   capture_output=True, text=True)  # fmt: skip
    yield target, user
    subprocess.run(["bash", str(UNINSTALL), "--root", str(target), "--user", user, "--purge"], check=False,
                   capture_output=True)  # fmt: skip


def names(root: Path, database: str) -> dict[int, str]:
    """uid (or gid) -> name, from the root's own passwd (or group) file."""
    rows = (line.split(":") for line in (root / "etc" / database).read_text().splitlines() if line)
    return {int(row[2]): row[0] for row in rows}


def owner_mode(root: Path, path: Path) -> tuple[str, int]:
    info = path.stat()
    return {0: "root", **names(root, "passwd")}[info.st_uid], stat.S_IMODE(info.st_mode)


def test_files_have_the_right_owners_and_modes(installed: tuple[Path, str]) -> None:
    root, user = installed
    etc = root / "etc/posagent"
    assert owner_mode(root, etc / "ecr_token") == (user, 0o600)
    assert owner_mode(root, etc / "outbox.key") == (user, 0o600)
    assert owner_mode(root, etc / "keys") == (user, 0o750)
    assert owner_mode(root, etc / "agent.toml") == ("root", 0o640)
    assert names(root, "group")[(etc / "agent.toml").stat().st_gid] == user
    assert owner_mode(root, root / "var/lib/posagent") == (user, 0o750)
    assert owner_mode(root, root / "etc/systemd/system/posagent.service") == ("root", 0o644)
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
    assert user in names(root, "passwd").values()  # kept with the data it owns
    subprocess.run(["bash", str(UNINSTALL), "--root", str(root), "--user", user, "--purge"], check=True,
                   capture_output=True)  # fmt: skip
    assert not (root / "etc/posagent").exists() and not (root / "var/lib/posagent").exists()
    assert user not in names(root, "passwd").values() and user not in names(root, "group").values()
    assert not any(user in line.split(":")[3].split(",") for line in (root / "etc/group").read_text().splitlines())


def test_the_account_lives_in_the_image_not_on_the_host(installed: tuple[Path, str]) -> None:
    root, user = installed
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    assert passwd[user][5:] == ["/var/lib/posagent", "/usr/sbin/nologin"]
    members = {line.split(":")[0]: line.split(":")[3].split(",") for line in (root / "etc/group").read_text().splitlines()}
    assert all(user in members[group] for group in ("dialout", "lp", "input", "video"))
    sysusers = (root / "usr/lib/sysusers.d/posagent.conf").read_text()  # first boot makes it if /etc is replaced
    assert f"u {user} - " in sysusers and f"m {user} dialout" in sysusers
    assert user not in Path("/etc/passwd").read_text()


def test_the_staged_virtualenv_runs_from_its_final_path(tmp_path: Path, untouched_host: None) -> None:
    target = tmp_path / "image"
    subprocess.run(["bash", str(INSTALL), "--root", str(target), "--python", sys.executable], check=True,
                   capture_output=True, text=True, timeout=600)  # fmt: skip
    try:
        venv = target / "opt/posagent/venv"
        posagent = venv / "bin/posagent"
        assert posagent.read_text().splitlines()[0].startswith("#!/opt/posagent/venv/bin/python")
        for script in (venv / "bin").iterdir():
            if script.is_file() and not script.is_symlink():
                assert str(target).encode() not in script.read_bytes(), script
        assert str(target) not in (venv / "pyvenv.cfg").read_text()
        # As it runs once the image is /: /opt/posagent is the staged one (in a private mount namespace).
        image_view = (f"mount -t tmpfs posagent-test /opt && mkdir /opt/posagent && "
                      f"mount --bind {target}/opt/posagent /opt/posagent && ")  # fmt: skip
        ran = subprocess.run(["unshare", "--mount", "sh", "-c", image_view + "/opt/posagent/venv/bin/posagent --help "
                              "&& /opt/posagent/venv/bin/python -c 'import agent; print(agent.__file__)'"],
                             capture_output=True, text=True, timeout=120, check=False, cwd="/",
                             env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert "posagent" in ran.stdout and "/opt/posagent/venv/lib/" in ran.stdout.splitlines()[-1]
    finally:
        subprocess.run(["bash", str(UNINSTALL), "--root", str(target), "--purge"], check=False, capture_output=True)
        shutil.rmtree(target, ignore_errors=True)


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
