"""Real small filesystems for the tests of a full or read-only disk: a tmpfs mounted for the test.

They need root with CAP_SYS_ADMIN, as CI has; elsewhere they fail with a clear message rather than
skipping (a skipped disk-full test would hide exactly the defect it is for).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """`path` (made here) with a tmpfs mounted on it (`options`, e.g. "size=2m" or "ro,size=1m")."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "posagent-test", str(path)], capture_output=True,
                             text=True, check=False) if os.geteuid() == 0 else None  # fmt: skip
    if mounted is None or mounted.returncode:
        pytest.fail(f"this test mounts a tmpfs ({options}): run it as root with CAP_SYS_ADMIN, as CI does (it fails"
                    f" here rather than skipping): {mounted.stderr.strip() if mounted else 'not root'}")  # fmt: skip
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False, capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(filler: Path) -> None:
    """Write `filler` until its filesystem has no block left."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    with pytest.raises(OSError) as full:
        (filler.parent / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC


@pytest.fixture
def mounted_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a tmpfs with the options given, as many as the test asks; all unmounted after it."""
    with contextlib.ExitStack() as mounts:
        count = 0

        def mount(options: str) -> Path:
            nonlocal count
            count += 1
            return mounts.enter_context(tmpfs(tmp_path / f"mnt{count}", options))

        yield mount
