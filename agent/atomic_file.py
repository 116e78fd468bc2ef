"""Replacing a small file so that a crash or a power cut leaves the old content or the new, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600, owner_of: Path | None = None) -> None:
    """Temp file beside `path` (created with `mode`), fsync, rename, fsync the folder.

    With `owner_of` and run as root, the file takes that path's owner first: a command run with sudo
    must not leave the daemon's user a file in its state dir it cannot read or replace.
    """
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(fd, mode)
            if owner_of is not None and os.geteuid() == 0:
                owner = owner_of.stat()
                os.fchown(fd, owner.st_uid, owner.st_gid)
            out.write(data)
            out.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
