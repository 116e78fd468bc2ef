"""Swap two directories in one step (install.sh: the new virtualenv for the running one, and back on rollback).

    python swap_dirs.py A B

renameat2(RENAME_EXCHANGE) exchanges the two names atomically: at every instant, a crash or a power
cut leaves each name pointing at a complete directory. Where the file system cannot exchange
(EINVAL), two renames through a third name; the window between them is reported on stderr.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def exchange(a: str, b: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) == 0:
        return
    code = ctypes.get_errno()
    if code not in (errno.EINVAL, errno.ENOSYS):
        raise OSError(code, os.strerror(code), a)
    print(f"swap_dirs: this file system cannot exchange {a} and {b} in one step: two renames", file=sys.stderr)
    spare = a + ".swap"
    os.rename(a, spare)
    os.rename(b, a)
    os.rename(spare, b)


if __name__ == "__main__":
    try:
        exchange(sys.argv[1], sys.argv[2])
    except OSError as exc:
        sys.exit(f"swap_dirs: cannot swap {sys.argv[1]} and {sys.argv[2]}: {exc.strerror}")
