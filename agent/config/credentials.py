"""The app's credentials, from the files a config names: the agent's [alipay] and the relay's [exchange]
(headquarters) are read and checked by this one code, with the same messages, `<section>.<setting>: ...`.

No import of the agent's other settings: the relay imports this module, never the till's devices.
"""

from __future__ import annotations

import stat
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from agent.alipay.cert_store import AlipayCertStore
from agent.alipay.certs import CertificateError, build_cert_mode
from agent.alipay.envelope import utc_now
from agent.alipay.keys import KeyFormatError, read_private_key_file, read_public_key_file
from agent.alipay.protocol import Credentials

from .schema import ConfigError, Problem


class AlipayKeyFiles(Protocol):
    """Alipay's side of the keys, in either mode: [alipay] here, the relay's [exchange] at headquarters."""

    @property
    def alipay_public_key_file(self) -> Path | None: ...
    @property
    def app_cert_file(self) -> Path | None: ...
    @property
    def alipay_cert_file(self) -> Path | None: ...
    @property
    def alipay_root_cert_file(self) -> Path | None: ...


class AlipayKeySettings(AlipayKeyFiles, Protocol):
    """Every file the app's credentials are read from, and the app they are for."""

    @property
    def app_id(self) -> str: ...
    @property
    def app_private_key_file(self) -> Path: ...
    @property
    def app_auth_token_file(self) -> Path | None: ...


def key_mode_problems(settings: AlipayKeyFiles) -> list[tuple[str, str]]:
    """Exactly one mode: Alipay's public key, or the three certificate files (setting, message) otherwise."""
    certs = {"app_cert_file": settings.app_cert_file, "alipay_cert_file": settings.alipay_cert_file,
             "alipay_root_cert_file": settings.alipay_root_cert_file}  # fmt: skip
    given = [name for name, value in certs.items() if value is not None]
    if settings.alipay_public_key_file is not None:
        return [(name, "give either alipay_public_key_file (public-key mode) or the three certificate files "
                       "(certificate mode), not both") for name in given]  # fmt: skip
    if not given:
        return [("alipay_public_key_file", "required: Alipay's public key (public-key mode), or app_cert_file, "
                                           "alipay_cert_file and alipay_root_cert_file (certificate mode)")]
    return [(name, "required in certificate mode (the console gives three files)")
            for name, value in certs.items() if value is None]  # fmt: skip


def alipay_cert_store(state_dir: Path) -> AlipayCertStore:
    """Certificate mode: where Alipay certificates downloaded on rotation are kept."""
    return AlipayCertStore(state_dir / "alipay_certs")


MAX_CERT_FILE_BYTES = 256 * 1024  # a certificate bundle is a few KiB


def _read_cert_file(settings: AlipayKeySettings, name: str, problems: list[Problem], section: str) -> bytes | None:
    path = getattr(settings, name)
    if path is None:
        problems.append(Problem(f"{section}.{name}", "required in certificate mode"))
        return None
    try:
        if path.stat().st_size > MAX_CERT_FILE_BYTES:
            problems.append(Problem(f"{section}.{name}", f"{path} is too large to be a certificate file"))
            return None
        return path.read_bytes()  # type: ignore[no-any-return]
    except FileNotFoundError:
        problems.append(Problem(f"{section}.{name}", f"file not found: {path}"))
    except OSError as exc:
        problems.append(Problem(f"{section}.{name}", f"{path} cannot be read: {exc.strerror}"))
    return None


def cert_problem(message: str, section: str = "alipay") -> Problem:
    """The setting a certificate-mode failure is about, from the file its message names."""
    if "root certificate bundle" in message:
        name = "alipay_root_cert_file"
    elif "app public-key certificate" in message:
        name = "app_cert_file"
    else:
        name = "alipay_cert_file"
    return Problem(f"{section}.{name}", message, CERT_FIXES[name])


CERT_FIXES = {
    "app_cert_file": "give the app public-key certificate (appCertPublicKey_*.crt) the console issued for the "
                     "CSR of THIS private key (posagent keys generate --csr); see docs/operations.md",
    "alipay_cert_file": "give the Alipay public-key certificate (alipayCertPublicKey_RSA2.crt) downloaded "
                        "from the console for this app, not the app certificate; see docs/operations.md",
    "alipay_root_cert_file": "give the Alipay root certificate bundle (alipayRootCert.crt) downloaded from "
                             "the console; see docs/operations.md",
}  # fmt: skip


def load_cert_mode_credentials(
    settings: AlipayKeySettings,
    private: rsa.RSAPrivateKey,
    token: str | None,
    *,
    cert_store: AlipayCertStore | None,
    now: datetime,
    section: str = "alipay",
) -> Credentials:
    problems: list[Problem] = []
    files = [_read_cert_file(settings, name, problems, section)
             for name in ("app_cert_file", "alipay_cert_file", "alipay_root_cert_file")]  # fmt: skip
    app_cert, alipay_cert, roots = files
    if problems or app_cert is None or alipay_cert is None or roots is None:
        raise ConfigError("credentials", problems)
    try:
        mode = build_cert_mode(app_cert, alipay_cert, roots, private.public_key(), now=now,
                               stored_alipay_certs=cert_store.load() if cert_store else ())  # fmt: skip
    except CertificateError as exc:
        raise ConfigError("credentials", [cert_problem(str(exc), section)]) from None
    return Credentials(settings.app_id, private, mode.alipay_certs[0].public_key, token, cert_mode=mode)


def load_credentials(
    settings: AlipayKeySettings,
    *,
    cert_store: AlipayCertStore | None = None,
    now: datetime | None = None,
    section: str = "alipay",
) -> Credentials:
    """Read the key files named by the config; every failure names the setting at fault (`section`.name:
    the relay's [exchange] is read here too, as an [alipay] with the chain's app id).

    Certificate mode: the three certificate files are checked together (chain, dates at `now`, the app
    certificate matches the private key) and certificates kept in `cert_store` after a rotation join."""
    problems: list[Problem] = []
    private = public = None
    token: str | None = None
    try:
        private = read_private_key_file(settings.app_private_key_file)
    except KeyFormatError as exc:
        problems.append(Problem(f"{section}.app_private_key_file", str(exc)))
    except OSError as exc:  # a directory, an I/O error: not a traceback
        problems.append(Problem(f"{section}.app_private_key_file",
                                f"{settings.app_private_key_file} cannot be read: {exc.strerror}"))  # fmt: skip
    if settings.alipay_public_key_file is not None:
        try:
            public = read_public_key_file(settings.alipay_public_key_file)
        except KeyFormatError as exc:
            problems.append(Problem(f"{section}.alipay_public_key_file", str(exc)))
        except OSError as exc:
            problems.append(Problem(f"{section}.alipay_public_key_file",
                                    f"{settings.alipay_public_key_file} cannot be read: {exc.strerror}"))  # fmt: skip
    if settings.app_auth_token_file is not None:
        token_file = settings.app_auth_token_file
        try:
            mode = token_file.stat().st_mode
            token = token_file.read_bytes().decode("utf-8").strip() or None
            if token is None:
                problems.append(Problem(f"{section}.app_auth_token_file", "the file is empty"))
            elif mode & stat.S_IRWXO:  # a merchant's authorisation, as secret as the private key
                message = f"{token_file} is readable by other users; run: chmod 600 {token_file}"
                problems.append(Problem(f"{section}.app_auth_token_file", message))
        except OSError as exc:
            problems.append(Problem(f"{section}.app_auth_token_file", f"cannot be read: {exc.strerror}"))
        except UnicodeDecodeError:
            problems.append(Problem(f"{section}.app_auth_token_file", f"{token_file} is not text (UTF-8)"))
    if settings.alipay_public_key_file is None and not problems and private is not None:
        return load_cert_mode_credentials(settings, private, token, cert_store=cert_store, now=now or utc_now(),
                                          section=section)
    if problems or private is None or public is None:
        raise ConfigError("credentials", problems)
    return Credentials(settings.app_id, private, public, token)
