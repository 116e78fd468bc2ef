"""Everything `posagent run` refuses before it starts, in one place.

`posagent config check` runs the very same checks, so a set-up that check calls OK starts, and both
commands say the same words about one that does not. Each refusal is a `Problem` naming the setting
at fault. The doctor reuses the judgements that need no token or network (state_dir, disk, group).

Who the agent runs as matters for permissions: `run` judges for its own process; `check` run as
root judges for the service user (the unit's User=) when it exists, from the files' mode bits.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import sqlite3
import ssl
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from agent.config import AgentConfig, ConfigError, Problem, alipay_cert_store, load_credentials
from agent.config.model import FleetSettings
from agent.storage import database_path, is_storage_full
from offline_queue import KeyFileError, load_key_file
from offline_queue.schema import SCHEMA_VERSION, current_version

from .port_owner import Holder, port_is_free, socket_answers, who_holds, who_holds_callback

SERVICE_USER = "posagent"  # the unit's User=
# The unit's RuntimeDirectory=: systemd makes it when the service starts and removes it when it stops.
RUNTIME_DIRECTORY = Path("/run/posagent")
MIN_FREE_BYTES = 1024 * 1024  # below this the database cannot take a day's work: call the disk full
PROBE_TIMEOUT = 2.0


class Mode(Enum):
    RUN = "run"  # an address held by a running agent is a refusal (two agents on one till)
    CHECK = "check"  # ... is fine: the running agent frees it when it is restarted


# ---- who the agent runs as -------------------------------------------------------------------


CAP_CHOWN = 0  # capability bit numbers (linux/capability.h)


def _has_capability(bit: int) -> bool:
    """This process's effective capability set has `bit` (root under the unit's empty bounding set has none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gids: frozenset[int]
    this_process: bool  # True: ask the kernel (os.access); False: judge from mode bits

    @property
    def may_chown_to_any_group(self) -> bool:
        return _has_capability(CAP_CHOWN) if self.this_process else self.uid == 0

    @classmethod
    def current(cls) -> Identity:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = f"uid {uid}"
        return cls(name, uid, frozenset({os.getegid(), *os.getgroups()}), this_process=True)

    @classmethod
    def user(cls, name: str) -> Identity | None:
        """A user from the user database, with the groups `initgroups` would give it (as systemd does)."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        gids = {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)}
        return cls(name, entry.pw_uid, frozenset(gids), this_process=False)

    @classmethod
    def for_check(cls, service_user: str = SERVICE_USER) -> Identity:
        """`config check` as root speaks for the service user; as anyone else, for itself."""
        if os.geteuid() == 0:
            return cls.user(service_user) or cls.current()
        return cls.current()

    def may(self, path: Path, *, write: bool, search: bool = False) -> bool:
        """May this identity read (or write) the file, or create files in the directory (search)?"""
        if self.this_process:
            want = (os.W_OK if write else os.R_OK) | (os.X_OK if search else 0)
            return os.access(path, want, effective_ids=os.access in os.supports_effective_ids)
        if self.uid == 0:
            return True
        info = path.stat()
        shift = 6 if info.st_uid == self.uid else 3 if info.st_gid in self.gids else 0
        need = (2 if write else 4) | (1 if search else 0)
        return (stat.S_IMODE(info.st_mode) >> shift) & need == need


# ---- secret files ----------------------------------------------------------------------------


class SecretFileError(ValueError):
    """A token file the agent refuses; `str()` is the one-line refusal, `problem` names the setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.problem = Problem(setting, message)


def read_secret_file(path: Path, setting: str) -> str:
    """A token file: must exist, be non-empty text and not be readable by other users."""
    try:
        mode = path.stat().st_mode
        value = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        raise SecretFileError(setting, f"{path} not found (deploy/install.sh creates it)") from None
    except OSError as exc:
        raise SecretFileError(setting, f"{path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretFileError(setting, f"{path} is not text (UTF-8)") from None
    if mode & stat.S_IRWXO:
        raise SecretFileError(setting, f"{path} is readable by other users; run: chmod 600 {path}")
    if not value:
        raise SecretFileError(setting, f"{path} is empty")
    return value


def secret_problems(config: AgentConfig) -> tuple[list[Problem], str | None]:
    """Token, Alipay keys and the outbox key; also the token (None if it cannot be read)."""
    problems: list[Problem] = []
    token: str | None = None
    try:
        token = read_secret_file(config.ecr.token_file, "ecr.token_file")
    except SecretFileError as exc:
        problems.append(exc.problem)
    try:
        load_credentials(config.alipay, cert_store=alipay_cert_store(config.paths.state_dir))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        load_key_file(config.outbox.key_file)
    except KeyFileError as exc:
        problems.append(Problem("outbox.key_file", str(exc)))
    if config.fleet is not None:
        problems += fleet_file_problems(config.fleet)
    return problems, token


PROVISIONED = "headquarters writes it for this till (posagent fleet provision): copy it here, mode 0600"


def fleet_file_problems(fleet: FleetSettings) -> list[Problem]:
    """The fleet key (0600), the MQTT password file (not readable by others, not empty), the CA file (parses)."""
    problems: list[Problem] = []
    for key, path in (("fleet.key_file", fleet.key_file), ("fleet.password_file", fleet.password_file)):
        if not os.path.lexists(path):
            problems.append(Problem(key, f"{path} not found", PROVISIONED))
            continue
        try:
            if key == "fleet.key_file":
                load_key_file(path)
            else:
                read_secret_file(path, key)
        except KeyFileError as exc:
            problems.append(Problem(key, str(exc)))
        except SecretFileError as exc:
            problems.append(exc.problem)
    if fleet.ca_file is not None and (found := ca_file_problem(fleet.ca_file)) is not None:
        problems.append(found)
    return problems


def ca_file_problem(path: Path, key: str = "fleet.ca_file") -> Problem | None:
    """A CA bundle TLS can load: every certificate in it parses."""
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        return Problem(key, f"{path} not found", "save there the CA certificate headquarters gives for its broker, "
                                                  "or unset ca_file to trust the system's CAs")  # fmt: skip
    except ssl.SSLError:
        return Problem(key, f"{path} holds no CA certificate TLS can use (PEM expected)",
                       "save the broker's CA certificate there (PEM: -----BEGIN CERTIFICATE-----)")  # fmt: skip
    except OSError as exc:
        return Problem(key, f"{path} cannot be read: {exc.strerror}")
    return None


# ---- the state folder and its disk -----------------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path("/")


def mount_point(path: Path) -> Path:
    """The mount point holding `path` (or its nearest existing ancestor)."""
    current = _existing_ancestor(path.absolute())
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def disk_full_text(path: Path, free: float | None = None) -> str:
    where = f"disk full: free space on {mount_point(path)}"
    return where if free is None else f"{where} ({_size(free)} left)"


DISK_FIX = ("delete what is not needed there (sudo journalctl --vacuum-size=100M; sudo apt-get clean), or give "
            "[paths] state_dir a bigger disk")  # fmt: skip


def free_bytes(path: Path) -> int | None:
    """Space a non-root service user may still use on the disk holding `path`."""
    try:
        info = os.statvfs(_existing_ancestor(path))
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def disk_problem(state_dir: Path) -> Problem | None:
    free = free_bytes(state_dir)
    if free is None or free >= MIN_FREE_BYTES:
        return None  # (unreachable: the state_dir problems say why)
    return Problem("paths.state_dir", disk_full_text(state_dir, free) + ": the database cannot grow", DISK_FIX)


DIRECTORY_FIX = "move the file away, or set [paths] state_dir to a directory"


def state_dir_problems(state_dir: Path, who: Identity) -> list[Problem]:
    key = "paths.state_dir"
    try:
        info = state_dir.stat()
    except FileNotFoundError:
        ancestor = _existing_ancestor(state_dir)
        if not ancestor.is_dir():
            return [Problem(key, f"{state_dir} cannot be made: {ancestor} is a file, not a directory", DIRECTORY_FIX)]
        if _read_only(ancestor):
            return [Problem(key, f"{state_dir} cannot be made: {ancestor} is on a read-only file system",
                            "remount it read-write, or choose another state_dir")]  # fmt: skip
        if not who.may(ancestor, write=True, search=True):
            return [Problem(key, f"{state_dir} does not exist and {who.name} cannot make it in {ancestor}",
                            f"make it: install -d -o {who.name} -m 0750 {state_dir}")]  # fmt: skip
        return []  # the agent makes it at start
    except NotADirectoryError:
        return [Problem(key, f"{state_dir} is not a directory: a part of its path is a file", DIRECTORY_FIX)]
    except OSError as exc:
        return [Problem(key, f"{state_dir} cannot be reached: {exc.strerror}", "check the path and its folders")]
    if not stat.S_ISDIR(info.st_mode):
        return [Problem(key, f"{state_dir} is a file, not a directory", DIRECTORY_FIX)]
    if _read_only(state_dir):
        return [Problem(key, f"{state_dir} is on a read-only file system",
                        "remount it read-write (check the disk: dmesg), or choose another state_dir")]  # fmt: skip
    if not who.may(state_dir, write=True, search=True):
        return [Problem(key, f"{state_dir} is not writable by {who.name} (owner uid {info.st_uid}, mode "
                             f"{stat.S_IMODE(info.st_mode):04o})", f"chown -R {who.name} {state_dir}")]  # fmt: skip
    database = database_path(state_dir)
    for file in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if file.exists() and not who.may(file, write=True):
            return [Problem(key, f"{file} is not writable by {who.name} (owner uid {file.stat().st_uid})",
                            f"chown -R {who.name} {state_dir}")]  # fmt: skip
    return []


def database_problems(state_dir: Path) -> list[Problem]:
    """`check` only: what the agent's start would find in its database (`run` finds it in Outbox.open,
    which moves a corrupt file aside and says so, exit 3)."""
    path = database_path(state_dir)
    if not path.is_file():
        return []
    key = "paths.state_dir"
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=10.0)) as db:  # as the doctor opens it: no writes
            rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check").fetchall()]
            version = current_version(db)
    except sqlite3.DatabaseError as exc:
        if is_storage_full(exc):
            return [Problem(key, disk_full_text(path) + f": {path} cannot be opened", DISK_FIX)]
        rows, version = [str(exc)], 0  # "file is not a database"
    if rows != ["ok"]:
        return [Problem(key, f"{path} is corrupt ({'; '.join(rows[:3])}): the agent's next start moves it aside "
                             "and begins a new database (it exits 3 once)",
                        f"then queue its jobs again: posagent queue recover {path}.corrupt-TIME")]  # fmt: skip
    if version > SCHEMA_VERSION:
        return [Problem(key, f"{path}: outbox schema version {version} is newer than this agent understands "
                             f"({SCHEMA_VERSION})", "run the release that wrote it, or restore the copy kept before "
                             "the upgrade (docs/operations.md, Upgrade and rollback)")]  # fmt: skip
    return []


# ---- the ECR socket's group ------------------------------------------------------------------


def group_problem(group: str, who: Identity) -> Problem | None:
    """The agent gives the socket to the group with chown: without CAP_CHOWN only to a group it is in."""
    key = "ecr.unix_group"
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return Problem(key, f"group {group!r} does not exist",
                       f"create it (groupadd {group}) or name the ECR software's group in [ecr] unix_group")
    if who.may_chown_to_any_group or gid in who.gids:
        return None
    return Problem(key, f"{who.name} is not a member of group {group!r}, so the agent cannot give it the ECR socket",
                   f"run: usermod -aG {group} {who.name}, then restart the agent")  # fmt: skip


def socket_path_problems(path: Path, who: Identity, mode: Mode) -> list[Problem]:
    key = "ecr.unix_socket"
    if os.path.lexists(path) and not stat.S_ISSOCK(path.lstat().st_mode):
        return [Problem(key, f"{path} exists and is not a socket", "move it away, or choose another unix_socket")]
    parent = path.parent
    if parent.is_dir():
        if not who.may(parent, write=True, search=True):
            return [Problem(key, f"{who.name} cannot make the socket in {parent} (not writable)")]
        return []
    if mode is Mode.CHECK and parent == RUNTIME_DIRECTORY:
        return []  # systemd makes it when it starts the service
    ancestor = _existing_ancestor(parent)
    if ancestor.is_dir() and not _read_only(ancestor) and who.may(ancestor, write=True, search=True):
        return []  # the agent makes it
    return [Problem(key, f"{parent} does not exist and {who.name} cannot make it (the unit's RuntimeDirectory= makes "
                         f"{RUNTIME_DIRECTORY} when systemd starts the agent)")]  # fmt: skip


# ---- listening addresses ---------------------------------------------------------------------


def busy_problem(key: str, where: str, holder: Holder, port: int | None = None) -> Problem:
    """A listening address someone holds: who, and what to do about it."""
    if holder is Holder.AGENT:
        return Problem(key, f"{where} is already served by a running agent",
                       "is posagent already running? stop it first: systemctl stop posagent")  # fmt: skip
    if holder is Holder.AGENT_OTHER_TOKEN:
        return Problem(key, f"{where} is served by another agent, which refuses this config's token",
                       "stop the other agent, or give this one another address")  # fmt: skip
    if holder is Holder.UNKNOWN:
        return Problem(key, f"{where} is in use (who holds it is unknown: the ECR token cannot be read)",
                       "fix ecr.token_file first")  # fmt: skip
    find = f"find it: sudo ss -ltnp 'sport = :{port}'; then " if port is not None else ""
    return Problem(key, f"{where} is in use by another program", f"{find}stop it, or choose another address")


def _busy(key: str, where: str, holder: Holder, mode: Mode, port: int | None) -> Problem | None:
    if holder is Holder.AGENT and mode is Mode.CHECK:
        return None  # the running agent: it frees the address when it is restarted with this config
    return busy_problem(key, where, holder, port)


def listener_problems(config: AgentConfig, token: str | None, mode: Mode,
                      timeout: float = PROBE_TIMEOUT) -> list[Problem]:  # fmt: skip
    ecr = config.ecr
    problems: list[Problem] = []
    if ecr.tcp_port and not port_is_free(ecr.tcp_host, ecr.tcp_port):
        holder = who_holds((ecr.tcp_host, ecr.tcp_port), token, timeout) if token else Holder.UNKNOWN
        found = _busy("ecr.tcp_port", f"{ecr.tcp_host}:{ecr.tcp_port}", holder, mode, ecr.tcp_port)
        problems += [found] if found else []
    if ecr.websocket_port and not port_is_free("127.0.0.1", ecr.websocket_port):
        # Nothing there answers the NDJSON probe: a running agent is recognised by its TCP port instead.
        tcp_holder = (who_holds((ecr.tcp_host, ecr.tcp_port), token, timeout)
                      if token and ecr.tcp_port and not port_is_free(ecr.tcp_host, ecr.tcp_port) else Holder.UNKNOWN)
        holder = Holder.AGENT if tcp_holder is Holder.AGENT else Holder.OTHER
        found = _busy("ecr.websocket_port", f"127.0.0.1:{ecr.websocket_port}", holder, mode, ecr.websocket_port)
        problems += [found] if found else []
    path = ecr.unix_socket
    if path is not None and os.path.lexists(path) and stat.S_ISSOCK(path.lstat().st_mode) and socket_answers(path):
        holder = who_holds(path, token, timeout) if token else Holder.UNKNOWN
        found = _busy("ecr.unix_socket", str(path), holder, mode, None)
        problems += [found] if found else []
    callback = config.callback
    callback_on = callback is not None and config.members is not None and bool(callback.port)
    if callback is not None and callback_on and not port_is_free(callback.host, callback.port):
        holder = who_holds_callback(callback.host, callback.port, callback.path, timeout)
        found = _busy("callback.port", f"{callback.host}:{callback.port}", holder, mode, callback.port)
        problems += [found] if found else []
    return problems


def listen_problem(key: str, where: str, exc: OSError, holder: Holder, port: int | None) -> Problem:
    """Why a listener did not start (a port taken after the preflight looked, a permission, an address)."""
    if exc.errno == errno.EADDRINUSE:
        return busy_problem(key, where, holder, port)
    return Problem(key, f"cannot listen on {where}: {exc.strerror or exc}")


# ---- all of it -------------------------------------------------------------------------------


def preflight(config: AgentConfig, *, who: Identity, mode: Mode, timeout: float = PROBE_TIMEOUT) -> list[Problem]:
    """Every refusal `posagent run` would make at start, for this config, in setting order."""
    problems, token = secret_problems(config)
    state = state_dir_problems(config.paths.state_dir, who)
    problems += state
    if (full := disk_problem(config.paths.state_dir)) is not None:
        problems.append(full)
    if mode is Mode.CHECK and not state and full is None:
        problems += database_problems(config.paths.state_dir)
    if config.ecr.unix_socket is not None:
        problems += socket_path_problems(config.ecr.unix_socket, who, mode)
        if config.ecr.unix_group and (group := group_problem(config.ecr.unix_group, who)) is not None:
            problems.append(group)
    problems += listener_problems(config, token, mode, timeout)
    return problems


class StartRefused(Exception):
    """The agent cannot start; `problems` say why (printed one a line, exit code 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


__all__ = [
    "MIN_FREE_BYTES", "Identity", "Mode", "SecretFileError", "StartRefused", "busy_problem", "ca_file_problem",
    "disk_full_text", "disk_problem", "fleet_file_problems", "free_bytes", "group_problem", "listen_problem",
    "listener_problems", "mount_point", "preflight", "read_secret_file", "secret_problems", "state_dir_problems",
]  # fmt: skip
