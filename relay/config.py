"""The relay's configuration: its own TOML file, validated with the agent's schema helpers, so a mistake is
named by its key (`relay.public_url: ...`) exactly as the agent's config check does.

    config = load_relay_config("relay.toml")      # ConfigError: every problem, by key
    secrets = load_secrets(config)                # the files it names: passwords, keys (ConfigError too)

Example (docs/fleet.md explains each section):

    [relay]
    public_url = "https://cards.example.com/alipay/open-card"
    [chain]
    id = "acme"
    app_id = "2021000000000001"
    template_ids = ["20240101000000000001"]
    [broker]
    url = "mqtts://broker.example.com:8883"
    password_file = "relay_password"
    [keys]
    dir = "keys"
"""

from __future__ import annotations

import ipaddress
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.alipay.cert_store import AlipayCertStore
from agent.alipay.protocol import Credentials
from agent.config.credentials import alipay_cert_store, key_mode_problems, load_credentials
from agent.config.schema import ConfigError, Problem, Range, build, setting
from agent.fleet.broker_url import BrokerUrl, BrokerUrlError, is_loopback, parse_broker_url

_ID = re.compile(r"[A-Za-z0-9]{1,16}", re.ASCII)
_APP_ID = re.compile(r"[0-9]{16}", re.ASCII)
_TEMPLATE_ID = re.compile(r"[0-9]{1,32}", re.ASCII)
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}", re.ASCII)
PORT = Range(0, 65535)  # 0: the system picks a free port (tests)


def _id(value: str) -> str | None:
    return None if _ID.fullmatch(value) else "1-16 letters or digits"


def _app_id(value: str) -> str | None:
    return None if _APP_ID.fullmatch(value) else "an Alipay app id is 16 digits (see the Alipay console)"


def _template_ids(values: list[str]) -> str | None:
    if not values:
        return "at least one card template id"
    bad = [v for v in values if not _TEMPLATE_ID.fullmatch(v)]
    return f"{bad[0]!r:.40} is not a template id (up to 32 digits)" if bad else None


def public_url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        return "not a URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host and is_loopback(host):
        return None  # a relay tried on this machine
    return "the public https:// URL the Alipay console has as the app's callback (http:// only for loopback)"


def _path(value: str) -> str | None:
    return None if value.startswith("/") and value.isascii() and value.isprintable() and " " not in value \
        else "a path starting with /"  # fmt: skip


def _networks(values: list[str]) -> str | None:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"{value!r:.60} is not an address or network (e.g. 10.0.0.0/8)"
    return None


def _broker_url(value: str) -> str | None:
    try:
        parse_broker_url(value)
    except BrokerUrlError as exc:
        return str(exc)
    return None


def _gateway(value: str) -> str | None:
    if value in ("production", "sandbox") or value.startswith(("https://", "http://")):
        return None
    return "use 'production', 'sandbox' or the full URL of a gateway (https://...)"


def _client_id(value: str) -> str | None:
    return None if _CLIENT_ID.fullmatch(value) else "1-40 letters, digits, _ or -"


@dataclass(frozen=True)
class RelaySettings:
    public_url: str = setting("The relay's public URL: what the Alipay console has as the app's authorization "
                              "callback (printed first at start).", check=public_url_problem,
                              example="https://cards.example.com/alipay/open-card")  # fmt: skip
    host: str = setting("Address the callback listener binds.", "0.0.0.0")
    port: int = setting("Port of the callback listener (behind the load balancer or TLS proxy).", 8080, between=PORT)
    path: str = setting("Path of the callback (the path of public_url, unless the proxy rewrites it).",
                        "/alipay/open-card", check=_path)  # fmt: skip
    trusted_proxies: list[str] = setting(
        "Addresses or networks of the load balancers in front of the relay: from these peers the customer's "
        "address is read from X-Forwarded-For (rate limits are per customer, not per balancer).", [],
        check=_networks, example='["10.0.0.0/8"]')  # fmt: skip
    max_connections: int = setting("Connections served at once.", 1024, between=Range(1, 100_000))


@dataclass(frozen=True)
class ChainSettings:
    id: str = setting("The chain's id: the second level of every topic (posagent/<chain>/...).", check=_id)
    app_id: str = setting("The Alipay app every store's card belongs to (16 digits).", check=_app_id,
                          example="2021000000000001")  # fmt: skip
    template_ids: list[str] = setting("The card templates the chain's stores enroll with.", check=_template_ids,
                                      example='["20240101000000000001"]')  # fmt: skip


@dataclass(frozen=True)
class BrokerSettings:
    url: str = setting("The broker: mqtts://HOST:8883 or wss://HOST:443/mqtt (TLS always, but for loopback).",
                       check=_broker_url, example="mqtts://broker.example.com:8883")  # fmt: skip
    password_file: Path = setting("File holding the relay's MQTT password (mode 0600).", secret=True,
                                  example="relay_password")  # fmt: skip
    username: str = setting("The relay's MQTT user (ACL: write every till's callback, read statuses).", "relay")
    ca_file: Path | None = setting("CA bundle the broker's certificate is checked against (system CAs when "
                                   "unset).", None)  # fmt: skip
    client_id_prefix: str = setting("Each instance connects as <prefix>-<random>, so instances never take "
                                    "each other's session.", "posagent-relay", check=_client_id)  # fmt: skip
    publish_timeout_seconds: float = setting("How long a callback waits for the broker's PUBACK before the customer "
                                             "is asked to try again (503).", 5.0,
                                             between=Range(0, 60, above=True))  # fmt: skip
    keepalive_seconds: int = setting("MQTT keep-alive.", 30, between=Range(5, 3600))
    max_inflight: int = setting("Publishes awaiting PUBACK at once (beyond it they queue in the client).", 100,
                                between=Range(1, 65535))  # fmt: skip

    @property
    def address(self) -> BrokerUrl:
        return parse_broker_url(self.url)


@dataclass(frozen=True)
class KeySettings:
    dir: Path = setting("Folder of the tills' fleet keys, <store>-<till>.key (0600), as `posagent fleet provision` "
                        "writes them.", example="keys")  # fmt: skip


@dataclass(frozen=True)
class LimitSettings:
    per_source_per_minute: float = setting(
        "Callbacks accepted per minute from one customer address (an IPv6 /64 counts as one), in bursts of as "
        "many; beyond it the phone is asked to try again later (429). Forged callbacks are refused before.", 10.0,
        between=Range(0, 100_000, above=True))  # fmt: skip
    total_per_minute: float = setting("Callbacks accepted per minute by this instance from all addresses "
                                      "(N instances: N times this in all).", 600.0,
                                      between=Range(0, 10_000_000, above=True))  # fmt: skip


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = setting("Serve /metrics (relay counters and the fleet's figures) on its own listener.", True)
    host: str = setting("Address of the metrics listener (loopback unless token_file is set).", "127.0.0.1")
    port: int = setting("Port of the metrics listener.", 9464, between=PORT)
    token_file: Path | None = setting("File (0600) with the bearer token Prometheus sends; required when the "
                                      "listener is not on loopback.", None, secret=True)  # fmt: skip

    def cross_check(self) -> list[tuple[str, str]]:
        if self.enabled and not is_loopback(self.host) and self.token_file is None:
            return [("token_file", "a metrics listener beyond this machine needs a bearer token file")]
        return []


@dataclass(frozen=True)
class ExchangeSettings:
    app_private_key_file: Path = setting("The app's RSA private key (0600): the relay exchanges the auth_code "
                                         "itself.", secret=True, example="keys/app_private_key.pem")  # fmt: skip
    alipay_public_key_file: Path | None = setting("Public-key mode: Alipay's public key for the app. Leave unset in "
                                                  "certificate mode.", None,
                                                  example="keys/alipay_public_key.pem")  # fmt: skip
    app_cert_file: Path | None = setting("Certificate mode: the app public-key certificate (appCertPublicKey_*.crt).",
                                         None, example="keys/appCertPublicKey.crt")  # fmt: skip
    alipay_cert_file: Path | None = setting(
        "Certificate mode: the Alipay public-key certificate (alipayCertPublicKey_RSA2.crt). Certificates Alipay "
        "rotates to later are downloaded, checked and kept in <keys dir>/alipay_certs.", None,
        example="keys/alipayCertPublicKey_RSA2.crt")  # fmt: skip
    alipay_root_cert_file: Path | None = setting("Certificate mode: the Alipay root certificate bundle "
                                                 "(alipayRootCert.crt).", None,
                                                 example="keys/alipayRootCert.crt")  # fmt: skip
    gateway: str = setting("'production', 'sandbox', or a gateway URL.", "production", check=_gateway)
    connect_timeout: float = setting("Seconds to wait for a connection to the gateway.", 3.0,
                                     between=Range(0, 60, above=True))  # fmt: skip
    read_timeout: float = setting("Seconds to wait for oauth.token's answer.", 8.0, between=Range(0, 60, above=True))
    keep_seconds: float = setting(
        "How long this instance keeps an exchanged authorization, so the customer's retry of the same callback "
        "(whose code is already spent) is still delivered.", 600.0, between=Range(0, 86_400, above=True))

    def cross_check(self) -> list[tuple[str, str]]:
        return key_mode_problems(self)  # exactly one mode, as the agent's [alipay]

    def keys(self, app_id: str) -> ExchangeKeys:
        return ExchangeKeys(app_id, self.app_private_key_file, self.alipay_public_key_file, self.app_cert_file,
                            self.alipay_cert_file, self.alipay_root_cert_file)  # fmt: skip


@dataclass(frozen=True)
class ExchangeKeys:
    """[exchange]'s key files with the chain's app id: what the agent's credential loader reads and checks."""

    app_id: str
    app_private_key_file: Path
    alipay_public_key_file: Path | None
    app_cert_file: Path | None
    alipay_cert_file: Path | None
    alipay_root_cert_file: Path | None
    app_auth_token_file: None = None  # the relay exchanges as the app itself, never for a merchant (ISV)


@dataclass(frozen=True)
class RelayConfig:
    relay: RelaySettings
    chain: ChainSettings
    broker: BrokerSettings
    keys: KeySettings
    limits: LimitSettings
    metrics: MetricsSettings
    exchange: ExchangeSettings | None = setting("Exchange the auth_code at the relay at once (off when absent): "
                                                "see docs/fleet.md, the two modes.", None)  # fmt: skip


@dataclass(frozen=True)
class ViewerConfig:
    """What `posagent fleet status` needs of a config file: the chain's id and the broker."""

    chain: ViewerChain
    broker: BrokerSettings


@dataclass(frozen=True)
class ViewerChain:
    id: str = setting("The chain's id.", check=_id)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [Problem("(file)", "not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [Problem("(file)", f"cannot be read: {exc}")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [Problem("(file)", f"not valid TOML: {exc}")]) from None


def load_relay_config(path: str | Path) -> RelayConfig:
    file = Path(path)
    return build(RelayConfig, _read_toml(file), source=str(file), base_dir=file.parent.resolve())


def load_viewer_config(path: str | Path) -> ViewerConfig:
    """The chain id and [broker] of a relay's (or a viewer's) config; other sections are not looked at."""
    file = Path(path)
    data = _read_toml(file)
    chain = data.get("chain")
    picked = {"chain": {"id": chain.get("id")} if isinstance(chain, dict) and "id" in chain else chain,
              "broker": data.get("broker", {})}  # fmt: skip
    return build(ViewerConfig, {k: v for k, v in picked.items() if v is not None}, source=str(file),
                 base_dir=file.parent.resolve())  # fmt: skip


# --- the files the config names ------------------------------------------------------------------


@dataclass(frozen=True)
class RelaySecrets:
    broker_password: str
    metrics_token: str | None = None
    exchange: Credentials | None = None

    def __repr__(self) -> str:
        return "RelaySecrets(<hidden>)"


def read_secret_file(path: Path, key: str, problems: list[Problem]) -> str | None:
    """A one-line secret from a 0600 file, or None with the problem (naming `key`) added."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        problems.append(Problem(key, f"{path} does not exist"))
        return None
    except OSError as exc:
        problems.append(Problem(key, f"{path} cannot be read: {exc.strerror}"))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(key, f"{path} is not text (UTF-8)"))
        return None
    if mode & 0o077:
        problems.append(Problem(key, f"{path} is readable by other users", fix=f"run: chmod 600 {path}"))
        return None
    if not text or "\n" in text:
        problems.append(Problem(key, f"{path} must hold one line"))
        return None
    return text


def _check_readable(path: Path | None, key: str, problems: list[Problem], *, folder: bool = False) -> None:
    if path is None:
        return
    if folder and not path.is_dir():
        problems.append(Problem(key, f"{path} is not a folder"))
    elif not folder and not path.is_file():
        problems.append(Problem(key, f"{path} does not exist"))


def exchange_cert_store(config: RelayConfig) -> AlipayCertStore:
    """Certificate mode: Alipay's certificates downloaded on a rotation, kept beside the tills' keys (the one
    folder the relay's config names) so the next start trusts them at once."""
    return alipay_cert_store(config.keys.dir)


def exchange_credentials(app_id: str, settings: ExchangeSettings, problems: list[Problem], *,
                         cert_store: AlipayCertStore | None = None) -> Credentials | None:  # fmt: skip
    """The app's credentials in either mode, checked as the agent checks its [alipay] (the same messages)."""
    try:
        return load_credentials(settings.keys(app_id), cert_store=cert_store, section="exchange")
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def load_secrets(config: RelayConfig, source: str) -> RelaySecrets:
    """Read what the config points to; ConfigError naming every key at fault."""
    problems: list[Problem] = []
    password = read_secret_file(config.broker.password_file, "broker.password_file", problems)
    _check_readable(config.broker.ca_file, "broker.ca_file", problems)
    _check_readable(config.keys.dir, "keys.dir", problems, folder=True)
    token = None
    if config.metrics.enabled and config.metrics.token_file is not None:
        token = read_secret_file(config.metrics.token_file, "metrics.token_file", problems)
    credentials = None
    if config.exchange is not None:
        credentials = exchange_credentials(config.chain.app_id, config.exchange, problems,
                                           cert_store=exchange_cert_store(config))  # fmt: skip
    if problems or password is None:
        raise ConfigError(source, problems)
    return RelaySecrets(password, token, credentials)


def load_broker_password(config: ViewerConfig, source: str) -> str:
    problems: list[Problem] = []
    password = read_secret_file(config.broker.password_file, "broker.password_file", problems)
    _check_readable(config.broker.ca_file, "broker.ca_file", problems)
    if problems or password is None:
        raise ConfigError(source, problems)
    return password
