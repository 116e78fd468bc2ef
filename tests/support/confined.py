"""Run a command confined as agent.service confines the agent: its real seccomp filter, no capabilities.

    python -m tests.support.confined --unit agent.service [--groups GID,...] -- COMMAND ARGS...

The filter is the unit's own: its SystemCallFilter= lines applied in order (the first decides
allow-list or deny-list, as systemd.exec says), each @group expanded by `systemd-analyze
syscall-filter`, SystemCallErrorNumber= as the action, native architecture only; installed with
libseccomp (Debian's libseccomp2, through ctypes) with no_new_privs, then COMMAND is exec'd.

The unit's CapabilityBoundingSet= (empty) is applied too: the command runs as this uid (root in CI)
with no capability at all, so, like the service user, it can only chown a file to a group it is in
(`--groups`: its supplementary groups; the test's stand-in for the unit's SupplementaryGroups=).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
PR_CAPBSET_DROP = 24
CAP_LAST = 63  # more than the kernel knows: PR_CAPBSET_DROP fails (EINVAL) past the last one, ignored


@dataclass(frozen=True)
class SyscallFilter:
    allow_list: bool  # True: only `syscalls` run, the rest fail with `errno`; False: `syscalls` fail
    syscalls: frozenset[str]
    errno: int


@functools.cache
def expand(group: str) -> frozenset[str]:
    """The syscalls of a systemd @group (nested groups included), as systemd-analyze lists them."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True)
    names: set[str] = set()
    for line in out.stdout.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= expand(item) if item.startswith("@") else {item}
    return frozenset(names)


def _names(items: list[str]) -> set[str]:
    names: set[str] = set()
    for item in items:
        names |= expand(item) if item.startswith("@") else {item}
    return names


def unit_filter(unit_text: str) -> SyscallFilter:
    """The filter systemd builds from a unit's [Service] SystemCallFilter= and SystemCallErrorNumber= lines."""
    allow_list: bool | None = None
    syscalls: set[str] = set()
    error = errno.EPERM  # without SystemCallErrorNumber= systemd kills; our unit sets EPERM
    for raw in unit_text.splitlines():
        line = raw.strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "SystemCallErrorNumber":
            error = getattr(errno, value.strip())
        if key != "SystemCallFilter":
            continue
        value = value.strip()
        negated = value.startswith("~")
        items = value.removeprefix("~").split()
        if allow_list is None:
            allow_list = not negated  # the first line decides, and sets the list
            syscalls = _names(items)
        elif allow_list != negated:  # allow-list + allow line, or deny-list + deny line: add
            syscalls |= _names(items)
        else:  # the opposite kind: take out
            syscalls -= _names(items)
    if allow_list is None:
        raise ValueError("the unit has no SystemCallFilter=")
    return SyscallFilter(allow_list, frozenset(syscalls), error)


def install(filter_: SyscallFilter) -> None:
    """Load the filter into this process (inherited by what it execs). Native architecture only."""
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    fail_action = SCMP_ACT_ERRNO | (filter_.errno & 0xFFFF)
    default, rule_action = (fail_action, SCMP_ACT_ALLOW) if filter_.allow_list else (SCMP_ACT_ALLOW, fail_action)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError("seccomp_init failed")
    for name in sorted(filter_.syscalls):
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:  # not a syscall of this architecture (e.g. chown32 on x86-64)
            continue
        result = lib.seccomp_rule_add(ctx, rule_action, number, 0)
        if result < 0:
            raise OSError(-result, f"seccomp_rule_add({name})")
    result = lib.seccomp_load(ctx)  # sets no_new_privs first (libseccomp's default)
    if result < 0:
        raise OSError(-result, "seccomp_load")


def drop_capabilities() -> None:
    """CapabilityBoundingSet= (empty): after exec even uid 0 has no capability."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(CAP_LAST + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unit", type=Path)
    parser.add_argument("--groups", default="", help="supplementary group ids, comma-separated")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    filter_ = unit_filter(args.unit.read_text()) if args.unit else None  # expanded before the filter is on
    os.setgroups([int(g) for g in args.groups.split(",") if g])
    os.umask(0o027)  # the unit's UMask=
    drop_capabilities()
    if filter_ is not None:
        install(filter_)
    os.execvp(command[0], command)  # noqa: S606 - exec is the point: the filter goes with it


if __name__ == "__main__":
    main(sys.argv[1:])
