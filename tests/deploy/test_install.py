"""deploy/install.sh into a temporary root: files, owners and modes; the account in the root's own /etc/passwd
(the host's users are never touched); the virtualenv runs from its final path; uninstall keeps data; an
interpreter the service cannot run is refused before anything changes; an upgrade that fails or is interrupted
leaves the running virtualenv as it was; a successful one keeps the previous version for --rollback."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
UNINSTALL = ROOT / "deploy" / "uninstall.sh"
HOST_ACCOUNTS = [Path("/etc") / name for name in ("passwd", "group", "shadow", "gshadow")]
DEBIAN_PYTHON = "/usr/bin/python3.11"  # what the operations guide installs with (the tests' own is under /root)

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


def test_the_staged_virtualenv_runs_from_its_final_path_and_an_upgrade_can_be_rolled_back(
    tmp_path: Path, untouched_host: None
) -> None:
    target = tmp_path / "image"
    install = ["bash", str(INSTALL), "--root", str(target)]
    subprocess.run([*install, "--python", DEBIAN_PYTHON], check=True, capture_output=True, text=True, timeout=600)
    try:
        venv = target / "opt/posagent/venv"
        (venv / "first-build").touch()
        # The upgrade, with another interpreter path: built beside, swapped in, the first build kept.
        upgrade = subprocess.run([*install, "--python", "/usr/bin/python3"], check=True, capture_output=True,
                                 text=True, timeout=600)  # fmt: skip
        assert "venv.previous" in upgrade.stdout
        previous = target / "opt/posagent/venv.previous"
        assert (previous / "first-build").exists() and not (venv / "first-build").exists()
        assert not (target / "opt/posagent/venv.new").exists()
        posagent = venv / "bin/posagent"
        assert posagent.read_text().splitlines()[0].startswith("#!/opt/posagent/venv/bin/python")
        for script in (venv / "bin").iterdir():
            if script.is_file() and not script.is_symlink():
                assert b"venv.new" not in script.read_bytes() and str(target).encode() not in script.read_bytes()
        assert str(target) not in (venv / "pyvenv.cfg").read_text()
        assert_runs_from_final_path(target)
        # Rollback: the first build back where the service runs it; --rollback again would undo it.
        rolled = subprocess.run([*install, "--rollback"], check=True, capture_output=True, text=True, timeout=120)
        assert "rolled back" in rolled.stdout
        assert (venv / "first-build").exists() and not (previous / "first-build").exists()
        assert_runs_from_final_path(target)
    finally:
        subprocess.run(["bash", str(UNINSTALL), "--root", str(target), "--purge"], check=False, capture_output=True)
        shutil.rmtree(target, ignore_errors=True)


def assert_runs_from_final_path(target: Path) -> None:
    """As it runs once the image is /: /opt/posagent is the staged one (in a private mount namespace)."""
    image_view = (f"mount -t tmpfs posagent-test /opt && mkdir /opt/posagent && "
                  f"mount --bind {target}/opt/posagent /opt/posagent && ")  # fmt: skip
    ran = subprocess.run(["unshare", "--mount", "sh", "-c", image_view + "/opt/posagent/venv/bin/posagent --help "
                          "&& /opt/posagent/venv/bin/python -c 'import agent; print(agent.__file__)'"],
                         capture_output=True, text=True, timeout=120, check=False, cwd="/",
                         env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "posagent" in ran.stdout and "/opt/posagent/venv/lib/" in ran.stdout.splitlines()[-1]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory anyone may enter, for interpreters (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="posagent-install-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def tree(path: Path) -> dict[str, object]:
    """Everything about a directory that an install could change: names, modes, bytes, link targets, inodes."""
    found: dict[str, object] = {".": path.stat().st_ino}
    for item in sorted(path.rglob("*")):
        info = item.lstat()
        name = str(item.relative_to(path))
        if item.is_symlink():
            found[name] = ("link", os.readlink(item))
        elif item.is_file():
            found[name] = ("file", info.st_mode, info.st_ino, item.read_bytes())
        else:
            found[name] = ("dir", info.st_mode, info.st_ino)
    return found


def fake_python(where: Path, after_venv: str) -> Path:
    """Debian's Python, except that `-m venv DIR` makes a venv without pip and then runs `after_venv` (DIR is $3)."""
    python = where / "python3.11"
    python.write_text(f"""#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    {DEBIAN_PYTHON} -m venv --without-pip "$3" || exit 1
    {after_venv}
fi
exec {DEBIAN_PYTHON} "$@"
""")
    python.chmod(0o755)
    return python


ENSUREPIP_FAILS = ("echo \"Error: Command '[\\\"$3/bin/python3.11\\\", \\\"-m\\\", \\\"ensurepip\\\"]' returned "
                   "non-zero exit status 1.\" >&2; exit 1")  # fmt: skip
PIP_FAILS = "printf '#!/bin/sh\\necho \"ERROR: No matching distribution found\" >&2\\nexit 1\\n' >\"$3/bin/pip\"; " \
            "chmod 755 \"$3/bin/pip\"; exit 0"


@pytest.fixture
def running(installed: tuple[Path, str]) -> tuple[Path, str, dict[str, object]]:
    """An installed root whose venv works (a real, small one), and a snapshot of /opt/posagent."""
    root, user = installed
    venv = root / "opt/posagent/venv"
    subprocess.run([DEBIAN_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    (venv / "bin/posagent").write_text("#!/opt/posagent/venv/bin/python\nprint('the running version')\n")
    return root, user, tree(root / "opt/posagent")


def test_a_python_the_service_user_cannot_run_is_refused_before_anything_changes(
    tmp_path: Path, open_dir: Path, untouched_host: None
) -> None:
    # The case: a pyenv build under /root (0700). Root runs it; the service account cannot.
    closed = open_dir / "root-home"
    closed.mkdir(mode=0o700)
    (closed / "python3.11").symlink_to(DEBIAN_PYTHON)
    target = tmp_path / "fresh"
    done = subprocess.run(["bash", str(INSTALL), "--root", str(target), "--python", str(closed / "python3.11")],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode != 0 and not target.exists()  # nothing at all was made
    [line] = done.stderr.splitlines()
    assert "cannot run" in line and f"{closed} (owner root, mode 700)" in line
    assert "--python /usr/bin/python3.11" in line and "Traceback" not in done.stderr


def test_staging_judges_the_image_s_own_path_to_the_interpreter(tmp_path: Path, untouched_host: None) -> None:
    target = tmp_path / "image"
    (target / "usr/bin").mkdir(parents=True)
    (target / "usr").chmod(0o700)  # a broken image: only root may enter its /usr
    (target / "usr/bin/python3.11").symlink_to(DEBIAN_PYTHON)
    before = tree(target)
    done = subprocess.run(["bash", str(INSTALL), "--root", str(target), "--python", DEBIAN_PYTHON],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode != 0 and "in the image, /usr (mode 700) is closed to posagent" in done.stderr
    assert tree(target) == before


def test_refused_over_an_existing_install_too(running: tuple[Path, str, dict[str, object]], open_dir: Path) -> None:
    root, user, before = running
    closed = open_dir / "closed"
    closed.mkdir(mode=0o700)
    (closed / "python3.11").symlink_to(DEBIAN_PYTHON)
    accounts = (root / "etc/passwd").read_bytes()
    done = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--user", user, "--python",
                           str(closed / "python3.11")], capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode != 0 and f"the service account {user} cannot run" in done.stderr
    assert tree(root / "opt/posagent") == before and (root / "etc/passwd").read_bytes() == accounts


@pytest.mark.parametrize("failure", [ENSUREPIP_FAILS, PIP_FAILS], ids=["ensurepip", "pip"])
def test_a_failed_upgrade_leaves_the_running_venv_as_it_was(
    running: tuple[Path, str, dict[str, object]], open_dir: Path, failure: str
) -> None:
    root, user, before = running
    done = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--user", user, "--python",
                           str(fake_python(open_dir, failure))], capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert f"{root}/opt/posagent/venv is unchanged" in done.stderr.splitlines()[-1]
    assert tree(root / "opt/posagent") == before  # venv.new removed, nothing else touched
    ran = subprocess.run([str(root / "opt/posagent/venv/bin/python"), "-c", "print('ok')"], capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert ran.stdout == "ok\n"


def test_an_interrupted_upgrade_leaves_the_running_venv_as_it_was(
    running: tuple[Path, str, dict[str, object]], open_dir: Path
) -> None:
    root, user, before = running
    started = open_dir / "pip-started"
    hangs = (f"printf '#!/bin/sh\\ntouch {started}\\nexec sleep 120\\n' >\"$3/bin/pip\"; chmod 755 \"$3/bin/pip\"; "
             "exit 0")  # fmt: skip
    install = subprocess.Popen(["bash", str(INSTALL), "--root", str(root), "--user", user, "--python",
                                str(fake_python(open_dir, hangs))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not started.exists():  # pip is running in venv.new
            assert install.poll() is None and time.monotonic() < deadline, install.communicate()
            time.sleep(0.1)
        os.killpg(install.pid, signal.SIGINT)  # Ctrl-C at the terminal: the whole process group
        _, stderr = install.communicate(timeout=60)
    finally:
        if install.poll() is None:
            os.killpg(install.pid, signal.SIGKILL)
    assert install.returncode == 130 and "interrupted" in stderr
    assert tree(root / "opt/posagent") == before


def test_without_python_debian_s_is_chosen_before_root_s_path(tmp_path: Path, open_dir: Path) -> None:
    # root's PATH leads first to a pyenv-like python3.11 that does not work for anyone else.
    shims = open_dir / "shims"
    shims.mkdir()
    (shims / "python3.11").write_text("#!/bin/sh\nexit 1\n")
    (shims / "python3.11").chmod(0o755)
    target = tmp_path / "image"
    done = subprocess.run(["bash", str(INSTALL), "--root", str(target), "--no-start"], capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"})  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        assert f"building {target}/opt/posagent/venv.new with /usr/bin/python3.11" in done.stdout
    finally:
        subprocess.run(["bash", str(UNINSTALL), "--root", str(target), "--purge"], check=False, capture_output=True)


def test_rollback_without_a_previous_version_changes_nothing(running: tuple[Path, str, dict[str, object]]) -> None:
    root, user, before = running
    done = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--user", user, "--rollback"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0 and "no previous version" in done.stderr and tree(root / "opt/posagent") == before
    # A previous version that does not run is not swapped in.
    shutil.copytree(root / "opt/posagent/venv", root / "opt/posagent/venv.previous", symlinks=True)
    before = tree(root / "opt/posagent")
    done = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--user", user, "--rollback"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0 and "does not run" in done.stderr and "nothing was changed" in done.stderr
    assert tree(root / "opt/posagent") == before


# A real install (no --root) on a private copy of /etc, /opt, /var/lib and /usr/local/bin in a mount namespace:
# the account is created for real (in the copy), the interpreter and the new venv are tried as that account.
PRIVATE_HOST = """set -e
w="$1"; src="$2"
mkdir -p "$w/opt" "$w/sysusers" && cp -a /etc "$w/etc" && cp -a /usr/lib/sysusers.d/. "$w/sysusers/"
mount --bind "$w/etc" /etc && mount --bind "$w/opt" /opt && mount --bind "$w/sysusers" /usr/lib/sysusers.d
mount -t tmpfs posagent-test /var/lib && mount -t tmpfs posagent-test /usr/local/bin
# systemd, as far as install.sh sees it: `restart` starts the service's program as posagent, as the unit would;
# with BREAK_NEW_VERSION set, only the first build starts (a release that does not start on this till).
mount -t tmpfs posagent-test /run && mkdir -p /run/systemd/system
cat >/usr/local/bin/systemctl <<'FAKE'
#!/bin/sh
[ "$1" = restart ] || exit 0
[ -z "$BREAK_NEW_VERSION" ] || [ -e /opt/posagent/venv/first-build ] || exit 1
runuser -u posagent -- /opt/posagent/venv/bin/posagent --help >/dev/null
FAKE
chmod 755 /usr/local/bin/systemctl
mkdir -m 0700 /opt/closed && ln -s /usr/bin/python3.11 /opt/closed/python3.11
cd /
mkdir -p /run/lock
echo "== locked"; flock /run/lock/posagent-install.lock bash "$src/deploy/install.sh" || echo "exit $?"
echo "== refused"; bash "$src/deploy/install.sh" --python /opt/closed/python3.11 || echo "exit $?"
test -e /opt/posagent || echo "no /opt/posagent"
echo "== install"; bash "$src/deploy/install.sh" --python /usr/bin/python3.11 2>/dev/null
touch /opt/posagent/venv/first-build
echo "== broken upgrade"; BREAK_NEW_VERSION=1 bash "$src/deploy/install.sh" --python /usr/bin/python3 || echo "exit $?"
test -e /opt/posagent/venv/first-build && echo "first build runs again"
echo "== upgrade"; bash "$src/deploy/install.sh" --python /usr/bin/python3 2>/dev/null
test -e /opt/posagent/venv.previous/first-build && echo "previous kept"
echo "== doctor"; runuser -u posagent -- /usr/local/bin/posagent --help >/dev/null && echo "posagent runs it"
/usr/local/bin/posagent doctor --only interpreter || true
for link in /opt/posagent/venv/bin/python*; do  # the one link to the base interpreter (absolute)
    case "$(readlink "$link")" in /*) base_link="$link"; base="$(readlink "$link")" ;; esac
done
ln -sfn /opt/closed/python3.11 "$base_link"  # as a venv built from a pyenv under /root
/usr/local/bin/posagent doctor --only interpreter || true
ln -sfn "$base" "$base_link"
echo "== rollback"; bash "$src/deploy/install.sh" --rollback
test -e /opt/posagent/venv/first-build && echo "first build back"
"""


def test_a_real_install_refuses_upgrades_and_rolls_back_as_the_service_account(
    tmp_path: Path, untouched_host: None
) -> None:
    script = tmp_path / "private-host.sh"
    script.write_text(PRIVATE_HOST)
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", str(script), str(tmp_path / "w"),
                           str(ROOT)], capture_output=True, text=True, timeout=900, check=False, cwd="/",
                          env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    locked = out.split("== locked")[1].split("== refused")[0]  # another installer holds the lock
    assert "exit 1" in locked and "another deploy/install.sh is running on this PC" in done.stderr
    refused = out.split("== refused")[1].split("== install")[0]
    assert "exit 1" in refused and "no /opt/posagent" in refused
    assert "the service account posagent (not created yet: tried as nobody) cannot run" in done.stderr
    assert "creating system user posagent" in out and "previous kept" in out and "posagent runs it" in out
    doctor = out.split("== doctor")[1].split("== rollback")[0]
    assert "OK    interpreter  posagent can run /opt/posagent/venv/bin/python3" in doctor, doctor
    assert "FAIL  interpreter  posagent cannot run /opt/posagent/venv/bin/python3" in doctor, doctor
    assert "Permission denied; /opt/closed is closed to it" in doctor and "--python /usr/bin/python3.11" in doctor
    assert "rolled back" in out and "first build back" in out
    broken = out.split("== broken upgrade")[1].split("== upgrade")[0]
    assert "exit 1" in broken and "first build runs again" in broken
    assert "the new version did not start (journalctl -u posagent -n 100): the previous one runs again" in done.stderr


def test_the_unit_verifies(tmp_path: Path) -> None:
    # The unit as installed, pointed at an executable so the ExecStart check finds one (a venv made by
    # `./run setup` without the editable install has no bin/posagent).
    posagent = tmp_path / "posagent"
    posagent.write_text("#!/bin/sh\n")
    posagent.chmod(0o755)
    unit = (ROOT / "agent.service").read_text().replace("/opt/posagent/venv/bin/posagent", str(posagent))
    unit = unit.replace("User=posagent", "User=root").replace("Group=posagent", "Group=root")
    path = tmp_path / "posagent.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(path)], check=False, capture_output=True,
                              text=True)  # fmt: skip
    assert "Overall exposure level" in security.stdout
