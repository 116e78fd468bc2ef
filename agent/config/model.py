"""The agent's configuration, section by section. Field docs feed `posagent config` and docs/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .schema import setting

_APP_ID = re.compile(r"^\d{16}$")
_ID = re.compile(r"^[A-Za-z0-9]{1,16}$")


def _app_id(value: str) -> str | None:
    return None if _APP_ID.match(value) else "an Alipay app id is 16 digits (see the Alipay console)"


def _gateway(value: str) -> str | None:
    if value in ("production", "sandbox") or value.startswith(("https://", "http://")):
        return None
    return "use 'production', 'sandbox' or the full URL of a gateway (https://...)"


def _short_id(value: str) -> str | None:
    # Store and till ids end up in out_trade_no (letters, digits, underscore; 64 chars in all).
    return None if _ID.match(value) else "1-16 letters or digits"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


@dataclass(frozen=True)
class AlipaySettings:
    app_id: str = setting("The app id from the Alipay console (16 digits).", check=_app_id,
                          example="2021000000000001")  # fmt: skip
    app_private_key_file: Path = setting(
        "The app's RSA private key (PKCS#1 or PKCS#8 PEM, or one-line Base64). Must be mode 0600.",
        example="keys/app_private_key.pem",
    )
    alipay_public_key_file: Path = setting(
        "Alipay's public key for this app, as the console shows it (PEM or one-line Base64).",
        example="keys/alipay_public_key.pem",
    )
    gateway: str = setting("'production', 'sandbox', or a gateway URL.", "production", check=_gateway)
    app_auth_token_file: Path | None = setting(
        "ISV mode only: file holding the merchant's app_auth_token (mode 0600).", None, secret=True
    )
    connect_timeout: float = setting("Seconds to wait for a connection to the gateway.", 5.0, check=_positive)
    read_timeout: float = setting("Seconds to wait for Alipay's answer once a request is sent.", 15.0,
                                  check=_positive)  # fmt: skip


@dataclass(frozen=True)
class StoreSettings:
    id: str = setting("This store's id (letters and digits); part of every out_trade_no.", "S1", check=_short_id)
    till_id: str = setting("This till's id within the store (letters and digits).", "T1", check=_short_id)
    name: str = setting("The store name printed on slips.", "")


@dataclass(frozen=True)
class PathSettings:
    state_dir: Path = setting("Where the database and the agent's state live.", Path("/var/lib/posagent"))


@dataclass(frozen=True)
class AgentConfig:
    alipay: AlipaySettings
    store: StoreSettings
    paths: PathSettings
