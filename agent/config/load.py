"""Reading the TOML config file, and the credentials it points to."""

from __future__ import annotations

import os
import stat
import tomllib
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay.cert_store import AlipayCertStore
from agent.alipay.certs import CertificateError, build_cert_mode
from agent.alipay.envelope import utc_now
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


def alipay_cert_store(state_dir: Path) -> AlipayCertStore:
    """Certificate mode: where Alipay certificates downloaded on rotation are kept."""
    return AlipayCertStore(state_dir / "alipay_certs")


MAX_CERT_FILE_BYTES = 256 * 1024  # a certificate bundle is a few KiB


def _read_cert_file(settings: AlipaySettings, name: str, problems: list[Problem]) -> bytes | None:
    path = getattr(settings, name)
    if path is None:
        problems.append(Problem(f"alipay.{name}", "required in certificate mode"))
        return None
    try:
        if path.stat().st_size > MAX_CERT_FILE_BYTES:
            problems.append(Problem(f"alipay.{name}", f"{path} is too large to be a certificate file"))
            return None
        return path.read_bytes()  # type: ignore[no-any-return]
    except FileNotFoundError:
        problems.append(Problem(f"alipay.{name}", f"file not found: {path}"))
    except OSError as exc:
        problems.append(Problem(f"alipay.{name}", f"{path} cannot be read: {exc.strerror}"))
    return None


def cert_problem(message: str) -> Problem:
    """The setting a certificate-mode failure is about, from the file its message names."""
    if "root certificate bundle" in message:
        key = "alipay.alipay_root_cert_file"
    elif "app public-key certificate" in message:
        key = "alipay.app_cert_file"
    else:
        key = "alipay.alipay_cert_file"
    return Problem(key, message, CERT_FIXES.get(key))


CERT_FIXES = {
    "alipay.app_cert_file": "give the app public-key certificate (appCertPublicKey_*.crt) the console issued for the "
                            "CSR of THIS private key (posagent keys generate --csr); see docs/operations.md",
    "alipay.alipay_cert_file": "give the Alipay public-key certificate (alipayCertPublicKey_RSA2.crt) downloaded "
                               "from the console for this app, not the app certificate; see docs/operations.md",
    "alipay.alipay_root_cert_file": "give the Alipay root certificate bundle (alipayRootCert.crt) downloaded from "
                                    "the console; see docs/operations.md",
}  # fmt: skip


def load_cert_mode_credentials(
    settings: AlipaySettings,
    private: rsa.RSAPrivateKey,
    token: str | None,
    *,
    cert_store: AlipayCertStore | None,
    now: datetime,
) -> Credentials:
    problems: list[Problem] = []
    files = [_read_cert_file(settings, name, problems)
             for name in ("app_cert_file", "alipay_cert_file", "alipay_root_cert_file")]  # fmt: skip
    app_cert, alipay_cert, roots = files
    if problems or app_cert is None or alipay_cert is None or roots is None:
        raise ConfigError("credentials", problems)
    try:
        mode = build_cert_mode(app_cert, alipay_cert, roots, private.public_key(), now=now,
                               stored_alipay_certs=cert_store.load() if cert_store else ())  # fmt: skip
    except CertificateError as exc:
        raise ConfigError("credentials", [cert_problem(str(exc))]) from None
    return Credentials(settings.app_id, private, mode.alipay_certs[0].public_key, token, cert_mode=mode)


def load_credentials(
    settings: AlipaySettings, *, cert_store: AlipayCertStore | None = None, now: datetime | None = None
) -> Credentials:
    """Read the key files named by the config; every failure names the setting at fault.

    Certificate mode: the three certificate files are checked together (chain, dates at `now`, the app
    certificate matches the private key) and certificates kept in `cert_store` after a rotation join."""
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
    if settings.alipay_public_key_file is not None:
        try:
            public = read_public_key_file(settings.alipay_public_key_file)
        except KeyFormatError as exc:
            problems.append(Problem("alipay.alipay_public_key_file", str(exc)))
        except OSError as exc:
            problems.append(Problem("alipay.alipay_public_key_file", f"{settings.alipay_public_key_file} cannot be "
                                                                     f"read: {exc.strerror}"))  # fmt: skip
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
    if settings.cert_mode and not problems and private is not None:
        return load_cert_mode_credentials(settings, private, token, cert_store=cert_store, now=now or utc_now())
    if problems or private is None or public is None:
        raise ConfigError("credentials", problems)
    return Credentials(settings.app_id, private, public, token)
