"""What the bundle needs to know about this PC's set-up, even when the config is broken.

The typed config is used when it is valid; otherwise the raw TOML (when it parses) still gives the
store, the state directory and the secret files, and the schema's defaults fill the gaps.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, ConfigError, parse_config
from agent.config.model import EcrSettings, OutboxSettings, PathSettings

from .redact import looks_secret

MAX_SECRET_FILE_BYTES = 64 * 1024  # a key or token file is small; anything bigger is not one we know
_ID = re.compile(r"[^A-Za-z0-9]")


@dataclass
class Site:
    config_path: Path
    text: str | None = None  # the config file as read
    raw: dict[str, Any] | None = None  # the parsed TOML
    config: AgentConfig | None = None  # the validated config
    problem: str | None = None  # why the config could not be read, parsed or validated
    notes: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent.resolve()

    def _raw(self, section: str, key: str) -> Any:
        table = (self.raw or {}).get(section)
        return table.get(key) if isinstance(table, dict) else None

    def _path(self, section: str, key: str, default: Path | None) -> Path | None:
        value = self._raw(section, key)
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            return path if path.is_absolute() else self.base_dir / path
        return default

    def public_ids(self) -> list[str]:
        """The app id and card template id: not secrets, and what support looks up first."""
        values = [self._raw("alipay", "app_id"), self._raw("members", "template_id")]
        return [value for value in values if isinstance(value, str)]

    @property
    def store_id(self) -> str:
        value = self.config.store.id if self.config else self._raw("store", "id")
        return _label(value)

    @property
    def till_id(self) -> str:
        value = self.config.store.till_id if self.config else self._raw("store", "till_id")
        return _label(value)

    @property
    def state_dir(self) -> Path:
        if self.config is not None:
            return self.config.paths.state_dir
        return self._path("paths", "state_dir", None) or PathSettings().state_dir

    def secret_files(self) -> list[Path]:
        """Every file whose content must never leave: the schema's secret files (with their defaults)
        and any `*_file` setting whose name looks secret (the private key, the public key too)."""
        files: dict[Path, None] = {}
        defaults = {("ecr", "token_file"): EcrSettings().token_file, ("outbox", "key_file"): OutboxSettings().key_file}
        for (section, key), default in defaults.items():
            path = self._path(section, key, default)
            if path is not None:
                files[path] = None
        for section, table in (self.raw or {}).items():
            if not isinstance(table, dict):
                continue
            for key, value in table.items():
                if key.endswith("_file") and looks_secret(key) and isinstance(value, str):
                    path = self._path(section, key, None)
                    if path is not None:
                        files[path] = None
        return list(files)

    def secret_values(self) -> list[str]:
        """The contents of the secret files that could be read; the others are noted."""
        values: list[str] = []
        for path in self.secret_files():
            try:
                with path.open("rb") as handle:
                    data = handle.read(MAX_SECRET_FILE_BYTES)
            except FileNotFoundError:
                continue  # nothing to leak
            except OSError as exc:
                self.notes.append(f"redaction: cannot read {path} ({exc.strerror}): its value is not searched "
                                  "for, only masked by pattern")  # fmt: skip
                continue
            values.append(data.decode("utf-8", errors="replace"))
        return values


def _label(value: Any) -> str:
    text = _ID.sub("", value) if isinstance(value, str) else ""
    return text[:16] or "unknown"


def load_site(config_path: Path) -> Site:
    site = Site(config_path)
    try:
        site.text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        site.problem = f"cannot read {config_path}: {getattr(exc, 'strerror', None) or exc}"
        return site
    try:
        site.raw = tomllib.loads(site.text)
    except tomllib.TOMLDecodeError as exc:
        site.problem = f"{config_path} is not valid TOML: {exc}"
        return site
    try:
        site.config = parse_config(site.text, source=str(config_path), base_dir=config_path.parent.resolve())
    except ConfigError as exc:
        site.problem = str(exc)
    return site
