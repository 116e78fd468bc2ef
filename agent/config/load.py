"""Reading the TOML config file, and the credentials it points to."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from agent.alipay.keys import KeyFormatError, read_private_key_file, read_public_key_file
from agent.alipay.protocol import Credentials

from .model import AgentConfig, AlipaySettings
from .schema import ConfigError, Problem, build

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


def load_credentials(settings: AlipaySettings) -> Credentials:
    """Read the key files named by the config; every failure names the setting at fault."""
    problems: list[Problem] = []
    private = public = None
    token: str | None = None
    try:
        private = read_private_key_file(settings.app_private_key_file)
    except KeyFormatError as exc:
        problems.append(Problem("alipay.app_private_key_file", str(exc)))
    except OSError as exc:  # a directory, an I/O error: not a traceback
        problems.append(Problem("alipay.app_private_key_file", f"{settings.app_private_key_file} cannot be read: "
                                                               f"{exc.strerror}"))  # fmt: skip
    try:
        public = read_public_key_file(settings.alipay_public_key_file)
    except KeyFormatError as exc:
        problems.append(Problem("alipay.alipay_public_key_file", str(exc)))
    except OSError as exc:
        problems.append(Problem("alipay.alipay_public_key_file", f"{settings.alipay_public_key_file} cannot be read: "
                                                                 f"{exc.strerror}"))  # fmt: skip
    if settings.app_auth_token_file is not None:
        token_file = settings.app_auth_token_file
        try:
            mode = token_file.stat().st_mode
            token = token_file.read_bytes().decode("utf-8").strip() or None
            if token is None:
                problems.append(Problem("alipay.app_auth_token_file", "the file is empty"))
            elif mode & stat.S_IRWXO:  # a merchant's authorisation, as secret as the private key
                problems.append(Problem("alipay.app_auth_token_file", f"{token_file} is readable by other users; "
                                                                      f"run: chmod 600 {token_file}"))  # fmt: skip
        except OSError as exc:
            problems.append(Problem("alipay.app_auth_token_file", f"cannot be read: {exc.strerror}"))
        except UnicodeDecodeError:
            problems.append(Problem("alipay.app_auth_token_file", f"{token_file} is not text (UTF-8)"))
    if problems or private is None or public is None:
        raise ConfigError("credentials", problems)
    return Credentials(settings.app_id, private, public, token)
