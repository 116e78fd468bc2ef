"""The service's interpreter: can the service user run the Python that systemd starts the agent with?

The virtualenv's bin/python links to the interpreter it was built from; if that one sits under a
directory the service user cannot enter (a pyenv build under /root, mode 0700), the unit fails with
"Permission denied" while everything run as root looks fine. As root (or as the service user) the
doctor runs it as that user, with the unit's groups; otherwise it judges the directories' modes.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

from agent.doctor.checks.permissions import User
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

NAME = "interpreter"
# What the agent needs from its interpreter beyond starting: TLS, the outbox, sockets, its own code.
IMPORTS = "import ssl, sqlite3, socket, agent.cli.main"
TRY_TIMEOUT = 30.0
FIX = ("reinstall with a Python the service user can run: sudo apt-get install python3.11 python3.11-venv && "
       "sudo deploy/install.sh --python /usr/bin/python3.11")  # fmt: skip
INSTALL_FIX = "install the service: sudo deploy/install.sh"


def shebang_interpreter(script: bytes) -> str | None:
    """The program a `#!` line names (pip writes `#!/path/python`), or None."""
    first = script.split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    return words[0] if words else None


def may_enter(mode: int, owner: int, group: int, user: User) -> bool:
    """The search (x) bit that applies to this user: owner's, else group's, else other's; root always."""
    if user.uid == 0:
        return True
    if user.uid == owner:
        return bool(mode & stat.S_IXUSR)
    if group in user.gids:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def link_chain(path: Path, limit: int = 40) -> list[Path]:
    """`path` and every link it goes through to the real file (each hop's directories must be entered)."""
    chain = [Path(os.path.abspath(path))]
    while chain[-1].is_symlink() and len(chain) < limit:
        chain.append(Path(os.path.abspath(chain[-1].parent / os.readlink(chain[-1]))))
    return [*chain, path.resolve()]


def closed_directory(path: Path, user: User) -> Path | None:
    """The first directory on the way to `path`, or to what it links to, that `user` cannot enter."""
    for route in link_chain(path):
        for directory in reversed(route.parents):
            try:
                info = directory.stat()
            except OSError:
                continue
            if not may_enter(info.st_mode, info.st_uid, info.st_gid, user):
                return directory
    return None


def _user(ctx: Context) -> tuple[User, int] | None:
    """The service user with the groups systemd gives it (initgroups and SupplementaryGroups=), and its gid."""
    try:
        entry = pwd.getpwnam(ctx.service_user)
    except KeyError:
        return None
    gids = set(os.getgrouplist(entry.pw_name, entry.pw_gid))
    for name in ctx.service_groups:
        try:
            gids.add(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue
    return User(entry.pw_name, entry.pw_uid, frozenset(gids)), entry.pw_gid


def try_as(interpreter: str, user: User, gid: int) -> str | None:
    """Run the interpreter as the user (the doctor must be root or that user); None, or why it failed."""
    switch = os.geteuid() != user.uid
    try:
        done = subprocess.run(
            [interpreter, "-c", IMPORTS], capture_output=True, text=True, timeout=TRY_TIMEOUT, check=False, cwd="/",
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            user=user.uid if switch else None, group=gid if switch else None,
            extra_groups=sorted(user.gids) if switch else None,
        )  # fmt: skip
    except OSError as exc:  # the exec itself: Permission denied, No such file
        return exc.strerror or str(exc)
    except subprocess.TimeoutExpired:
        return f"it did not finish within {TRY_TIMEOUT:.0f} s"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


def check_interpreter(ctx: Context) -> list[Finding]:
    if not ctx.judges_service:
        return [ok(NAME, f"development config (not under /etc/posagent): runs with {sys.executable} as whoever "
                         "starts it; file owners and the service's interpreter are judged for the installed "
                         "service's config only")]  # fmt: skip
    program = ctx.service_program
    try:
        interpreter = shebang_interpreter(program.read_bytes()[:512])
    except OSError as exc:
        return [fail(NAME, f"{program}: {exc.strerror}: the agent is not installed there", INSTALL_FIX)]
    if interpreter is None:
        return [fail(NAME, f"{program} has no #! line naming its Python", INSTALL_FIX)]
    found = _user(ctx)
    if found is None:
        return [warn(NAME, f"no '{ctx.service_user}' user here: {interpreter} not checked for it",
                     "install the service (deploy/install.sh creates the user)")]  # fmt: skip
    user, gid = found
    real = Path(interpreter).resolve()
    shown = interpreter if str(real) == interpreter else f"{interpreter} (-> {real})"
    if os.geteuid() in (0, user.uid):
        problem = try_as(interpreter, user, gid)
        if problem is None:
            return [ok(NAME, f"{user.name} can run {shown}")]
        closed = closed_directory(Path(interpreter), user)
        where = f"; {closed} is closed to it" if closed is not None else ""
        return [fail(NAME, f"{user.name} cannot run {shown}: {problem}{where}", FIX)]
    closed = closed_directory(Path(interpreter), user)
    if closed is not None:
        return [fail(NAME, f"{user.name} cannot run {shown}: {closed} is closed to it", FIX)]
    return [ok(NAME, f"{user.name} can reach {shown} (judged from the modes: run the doctor as root to try it)")]
