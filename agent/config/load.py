"""Reading the TOML config file; the credentials it points to are read by `.credentials`."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .credentials import alipay_cert_store, cert_problem, load_cert_mode_credentials, load_credentials
from .model import AgentConfig
from .schema import ConfigError, Problem, build

__all__ = [  # the credential functions live in .credentials (the relay reads its [exchange] with them)
    "CONFIG_ENV", "DEFAULT_CONFIG_PATH", "alipay_cert_store", "cert_problem", "config_path",
    "load_cert_mode_credentials", "load_config", "load_credentials", "parse_config",
]  # fmt: skip

DEFAULT_CONFIG_PATH = Path("/etc/posagent/agent.toml")
CONFIG_ENV = "POSAGENT_CONFIG"


def config_path(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def parse_config(text: str, *, source: str, base_dir: Path) -> AgentConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("(file)", f"not valid TOML: {exc}")]) from None
    return build(AgentConfig, data, source=source, base_dir=base_dir)


def load_config(path: str | Path | None = None) -> AgentConfig:
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = Problem("(file)", f"not found (give --config FILE or set {CONFIG_ENV})")
        raise ConfigError(str(file), [problem]) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(str(file), [Problem("(file)", f"cannot be read: {exc}")]) from None
    return parse_config(text, source=str(file), base_dir=file.parent.resolve())
