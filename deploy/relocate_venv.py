"""Point a virtualenv built at one path at the path it will run from (install.sh --root).

    python relocate_venv.py BUILT FINAL

pip writes the venv's absolute path into every script's #! line (or into a `/bin/sh` exec
trampoline when the path is long), and venv into the activate scripts and pyvenv.cfg. Text files
in bin/ and pyvenv.cfg get BUILT replaced by FINAL; binaries and symlinks are left alone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def relocate(venv: Path, final: str) -> list[Path]:
    built = {str(venv.absolute()).encode(), str(venv.resolve()).encode()}  # as given, and through symlinks
    target = final.encode()
    changed = []
    for path in [*sorted(venv.joinpath("bin").iterdir()), venv / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = original = path.read_bytes()
        if b"\0" in data:
            continue
        for old in sorted(built, key=len, reverse=True):  # the path itself, not a longer name it begins
            data = re.sub(re.escape(old) + rb"(?![\w.-])", target.replace(b"\\", b"\\\\"), data)
        if data != original:
            path.write_bytes(data)
            changed.append(path)
    return changed


if __name__ == "__main__":
    relocate(Path(sys.argv[1]), sys.argv[2])
