"""udev permissions: can the service user (or, without one, this user) read and write each device node?

`can_access` is the kernel's owner/group/other rule on the mode bits, pure; the I/O part only
gathers the node's stat and the user's groups (its own, /etc/group, and the unit's
SupplementaryGroups=).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.doctor.context import UDEV_RULES, Context
from agent.doctor.finding import Finding, fail, ok, warn
from drivers.printer import parse_printer_uri
from drivers.printer.uri import FileAddress, SerialAddress

UDEV_FIX = (f"install the udev rule {UDEV_RULES} (sudo cp {UDEV_RULES} /etc/udev/rules.d/ && sudo udevadm control "
            "--reload && sudo udevadm trigger), then replug the device")  # fmt: skip


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gids: frozenset[int]


def can_access(mode: int, owner: int, group: int, user: User, *, write: bool) -> bool:
    """Owner bits if the user owns the node, else group bits if in its group, else other bits; root always."""
    if user.uid == 0:
        return True
    if user.uid == owner:
        read_bit, write_bit = stat.S_IRUSR, stat.S_IWUSR
    elif group in user.gids:
        read_bit, write_bit = stat.S_IRGRP, stat.S_IWGRP
    else:
        read_bit, write_bit = stat.S_IROTH, stat.S_IWOTH
    return bool(mode & read_bit) and (not write or bool(mode & write_bit))


def service_user(ctx: Context) -> User | None:
    try:
        entry = pwd.getpwnam(ctx.service_user)
    except KeyError:
        return None
    gids = {entry.pw_gid}
    gids.update(g.gr_gid for g in grp.getgrall() if ctx.service_user in g.gr_mem)
    for name in ctx.service_groups:
        try:
            gids.add(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue
    return User(ctx.service_user, entry.pw_uid, frozenset(gids))


def current_user() -> User:
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return User(name, uid, frozenset({os.getgid(), *os.getgroups()}))


def device_nodes(ctx: Context) -> list[tuple[str, bool]]:
    """(node, needs write) for every configured device that is a file on this PC."""
    config = ctx.agent_config
    nodes: list[tuple[str, bool]] = []
    for scanner in config.scanners:
        nodes.append((scanner.path, scanner.kind == "serial"))  # evdev only reads
    if config.printer is not None:
        try:
            address = parse_printer_uri(config.printer.uri)
        except ValueError:
            address = None  # the printer finding says why
        if isinstance(address, SerialAddress | FileAddress):
            nodes.append((address.path, True))
    if config.camera is not None and config.camera.source.startswith("/dev/"):
        nodes.append((config.camera.source, True))
    return nodes


def _describe(info: os.stat_result) -> str:
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"group {group}, mode {stat.S_IMODE(info.st_mode):04o}"


def judge_node(path: str, info: os.stat_result, user: User, *, write: bool) -> Finding:
    name = f"permissions:{path}"
    access = "read and write" if write else "read"
    if can_access(info.st_mode, info.st_uid, info.st_gid, user, write=write):
        return ok(name, f"{user.name} can {access} it ({_describe(info)})")
    return fail(name, f"{user.name} cannot {access} it ({_describe(info)})", UDEV_FIX)


def check_permissions(ctx: Context) -> list[Finding]:
    nodes = device_nodes(ctx)
    if not nodes:
        return [ok("permissions", "no device nodes configured")]
    if not ctx.judges_service:  # a development config: its devices are opened by whoever runs it
        findings: list[Finding] = []
        user = current_user()
    else:
        findings, user = _service_user_or_current(ctx)
    for path, write in nodes:
        try:
            info = Path(path).stat()  # follows the by-id symlink to the real node
        except OSError:
            continue  # missing: the device's own finding says so
        findings.append(judge_node(path, info, user, write=write))
    return findings


def _service_user_or_current(ctx: Context) -> tuple[list[Finding], User]:
    user = service_user(ctx)
    findings: list[Finding] = []
    if user is None:
        user = current_user()
        findings.append(warn("permissions", f"no '{ctx.service_user}' user here: checked for {user.name} instead",
                             "install the service (deploy/install.sh creates the user)"))  # fmt: skip
    return findings, user
