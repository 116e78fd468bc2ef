"""Taking secrets out of what goes into a support bundle.

Two layers: `redact_config` rebuilds the config without secret settings (those the schema marks
`secret=True`, and any key whose name looks secret, to be safe with settings added later), and a
`Redactor` passes over every text just before it is archived: the actual secret values (read from
the files the config names) are removed wherever they appear, then `mask_secrets` masks payment
codes, phone numbers, tokens and PEM blocks, and URLs lose their user:password@.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.config.model import AgentConfig
from agent.config.schema import describe
from agent.daemon.logs import mask_secrets

REMOVED = "<removed>"
# Any key containing one of these is dropped, whatever the schema says: better too much than too little.
SECRET_KEY_WORDS = ("token", "secret", "passw", "private", "key", "credential", "auth", "cookie", "session")
MIN_SECRET_LENGTH = 8  # shorter "secrets" (an empty or test file) would blank ordinary words
MIN_FRAGMENT_LENGTH = 24  # a Base64 run this long that is part of a secret is removed too

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"'<>]+@", re.ASCII)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{%d,}" % MIN_FRAGMENT_LENGTH)  # noqa: UP031 (regex braces)
_PEM_LINE = re.compile(r"^-----(BEGIN|END) [A-Z0-9 ]+-----$")


def schema_secret_keys() -> frozenset[str]:
    """Dotted keys the schema marks secret, e.g. "ecr.token_file" (array tables as "scanners[]")."""
    return frozenset(doc.key for doc in describe(AgentConfig) if doc.secret)


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_KEY_WORDS)


def strip_userinfo(text: str) -> str:
    return _URL_USERINFO.sub(rf"\1{REMOVED}@", text)


# Settings that are identifiers support needs and look like digit runs the masking would take.
PUBLIC_IDS = frozenset({"alipay.app_id", "members.template_id"})


def redact_config(data: Mapping[str, Any], secret_keys: frozenset[str] | None = None) -> dict[str, Any]:
    """A copy of the parsed config with secret values replaced by "<removed>" and strings masked."""
    secret = schema_secret_keys() if secret_keys is None else secret_keys
    return _redact_table(data, "", secret)


def _redact_table(data: Mapping[str, Any], prefix: str, secret: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if key in secret or looks_secret(name):
            out[name] = REMOVED
        else:
            out[name] = _redact_value(value, key, secret)
    return out


def _redact_value(value: Any, key: str, secret: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return _redact_table(value, key, secret)
    if isinstance(value, list):
        return [_redact_value(item, f"{key}[]", secret) for item in value]
    if isinstance(value, str):
        return value if key in PUBLIC_IDS else strip_userinfo(mask_secrets(value))
    return value


def secret_forms(text: str) -> list[str]:
    """The strings under which a secret file's content may show up: whole, per line, PEM body joined."""
    stripped = text.strip()
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    body = [line for line in lines if not _PEM_LINE.fullmatch(line) and ":" not in line]  # skip PEM headers
    forms = [stripped, *lines, "".join(body)]
    return [form for form in forms if len(form) >= MIN_SECRET_LENGTH]


class Redactor:
    """Removes known secret values, then masks what looks secret; `redact` is the only way text goes out."""

    def __init__(self, secrets: Iterable[str] = (), public: Iterable[str] = ()) -> None:
        # Identifiers support needs (the app id, the card template id) are long digit runs that the
        # masking would take for payment codes: they are set aside while masking, then put back.
        self._public = sorted({p for p in public if p and p.isascii() and p.isalnum()}, key=len, reverse=True)
        self._values: list[str] = []
        self._windows: set[str] = set()  # every MIN_FRAGMENT_LENGTH-long slice of every secret
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        forms = secret_forms(secret)
        self._values = sorted({*self._values, *forms}, key=len, reverse=True)  # a whole PEM before its lines
        for form in forms:
            self._windows.update(form[i : i + MIN_FRAGMENT_LENGTH] for i in range(len(form) - MIN_FRAGMENT_LENGTH + 1))

    @property
    def known(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REMOVED)
        if self._windows:
            text = _BASE64_RUN.sub(self._fragment, text)
        kept = {f"\x00public{index}\x00": value for index, value in enumerate(self._public)}
        for marker, value in kept.items():
            text = text.replace(value, marker)
        text = strip_userinfo(mask_secrets(text))
        for marker, value in kept.items():
            text = text.replace(marker, value)
        return text

    def _fragment(self, match: re.Match[str]) -> str:
        # Part of a key re-wrapped at another width or cut short: still the key.
        run = match.group(0)
        windows = (run[i : i + MIN_FRAGMENT_LENGTH] for i in range(len(run) - MIN_FRAGMENT_LENGTH + 1))
        return REMOVED if any(window in self._windows for window in windows) else run
