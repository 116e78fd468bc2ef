"""The tills' fleet keys at headquarters: `<keys dir>/<store>-<till>.key`, one offline_queue key file per till
(0600), as `posagent fleet provision` writes them. Read on first use and whenever the file changes, so a
till provisioned while the relay runs is served at once, and a till whose key was removed is refused.

From each key two secrets are derived, as the till derives them: the out_string MAC key and the callback
payload key (docs/fleet.md, security model).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from agent.fleet.messages import PAYLOAD_KEY_LABEL
from agent.fleet.topics import TillRef
from agent.members.out_string import KEY_LABEL as OUT_STRING_KEY_LABEL
from offline_queue import KeyFileError, load_key_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TillSecrets:
    mac_key: bytes  # verifies the till's out_strings
    payload_key: bytes  # seals callbacks for the till

    def __repr__(self) -> str:
        return "TillSecrets(<hidden>)"


def key_file_name(till: TillRef) -> str:
    return f"{till.name}.key"


class TillKeys:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple[int, int, int], TillSecrets | None]] = {}

    def secrets(self, till: TillRef) -> TillSecrets | None:
        """The till's secrets, or None when the chain has no key for it (or the key file is unusable)."""
        path = self.folder / key_file_name(till)
        try:
            info = path.stat()
        except OSError:
            self._cache.pop(till.name, None)
            return None
        version = (info.st_ino, info.st_mtime_ns, info.st_size)
        cached = self._cache.get(till.name)
        if cached is not None and cached[0] == version:
            return cached[1]
        secrets: TillSecrets | None = None
        try:
            cipher = load_key_file(path)
            secrets = TillSecrets(cipher.derive(OUT_STRING_KEY_LABEL), cipher.derive(PAYLOAD_KEY_LABEL))
        except KeyFileError as exc:
            # Wrong mode, not a key: said once per version of the file (the customer gets a refusal each time).
            log.error("the fleet key of %s cannot be used: %s", till.name, exc)
        self._cache[till.name] = (version, secrets)
        return secrets

    def mac_key(self, till: TillRef) -> bytes | None:
        found = self.secrets(till)
        return None if found is None else found.mac_key

    def provisioned(self) -> list[str]:
        """`<store>-<till>` of every key file in the folder (for the fleet view's "never seen" tills)."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        return sorted(name.removesuffix(".key") for name in names if name.endswith(".key"))
