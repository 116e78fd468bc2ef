"""Where the Alipay certificates downloaded on rotation are kept, so the next start trusts them at once.

Each is a file ``alipay_cert_<sn>.pem`` in one folder (``<state_dir>/alipay_certs``). Nothing read from
here is trusted as such: `certs.build_cert_mode` checks each against the root bundle and the date again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from agent.atomic_file import write_atomically

from .certs import AlipayCert

_NAME = re.compile(r"alipay_cert_[0-9a-f]{32}\.pem")
MAX_STORED_BYTES = 64 * 1024  # a certificate chain is a few KiB


class AlipayCertStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self) -> list[bytes]:
        """The stored certificate files, oldest first; unreadable or oversized ones are skipped."""
        try:
            paths = sorted((p for p in self.directory.iterdir() if _NAME.fullmatch(p.name)),
                           key=lambda p: p.stat().st_mtime)  # fmt: skip
        except OSError:
            return []
        out: list[bytes] = []
        for path in paths:
            try:
                if path.stat().st_size <= MAX_STORED_BYTES:
                    out.append(path.read_bytes())
            except OSError:
                continue
        return out

    def save(self, cert: AlipayCert) -> None:
        """Write atomically and durably: a crash never leaves half a certificate."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # Public certificates, read by the daemon whoever saved them; under sudo the folder and the file
        # take the state dir's owner (the daemon's user), or the daemon could not add the next one.
        self._owned_like_state_dir(self.directory)
        write_atomically(self.directory / f"alipay_cert_{cert.sn}.pem", cert.pem, mode=0o644,
                         owner_of=self.directory.parent)  # fmt: skip

    def _owned_like_state_dir(self, folder: Path) -> None:
        if os.geteuid() == 0:
            owner = self.directory.parent.stat()
            os.chown(folder, owner.st_uid, owner.st_gid)
