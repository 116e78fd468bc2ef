"""The agent's configuration, section by section. Field docs feed `posagent config` and docs/."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.fleet.broker_url import BrokerUrlError, parse_broker_url

from .credentials import key_mode_problems
from .schema import Range, setting

_APP_ID = re.compile(r"^\d{16}$", re.ASCII)
_ID = re.compile(r"^[A-Za-z0-9]{1,16}$")


def _app_id(value: str) -> str | None:
    return None if _APP_ID.fullmatch(value) else "an Alipay app id is 16 digits (see the Alipay console)"


def _gateway(value: str) -> str | None:
    if value in ("production", "sandbox") or value.startswith(("https://", "http://")):
        return None
    return "use 'production', 'sandbox' or the full URL of a gateway (https://...)"


def _short_id(value: str) -> str | None:
    # Store and till ids end up in out_trade_no (letters, digits, underscore; 64 chars in all).
    return None if _ID.fullmatch(value) else "1-16 letters or digits"


# Ranges: generous, but each keeps the agent working (no 0 workers, no endless waits, no overflow).
SECONDS_5_MIN = Range(0, 300, above=True)
SECONDS_10_MIN = Range(0, 600, above=True)
SECONDS_1_HOUR = Range(0, 3600, above=True)
SECONDS_1_MIN = Range(0, 60, above=True)
PORT = Range(0, 65535)  # 0: the system picks a free port (tests)


@dataclass(frozen=True)
class AlipaySettings:
    app_id: str = setting("The app id from the Alipay console (16 digits).", check=_app_id,
                          example="2021000000000001")  # fmt: skip
    app_private_key_file: Path = setting(
        "The app's RSA private key (PKCS#1 or PKCS#8 PEM, or one-line Base64). Must be mode 0600.",
        example="keys/app_private_key.pem",
    )
    alipay_public_key_file: Path | None = setting(
        "Public-key mode: Alipay's public key for this app, as the console shows it (PEM or one-line Base64). "
        "Leave unset in certificate mode.",
        None,
        example="keys/alipay_public_key.pem",
    )
    app_cert_file: Path | None = setting(
        "Certificate mode: the app public-key certificate the console issued from your CSR (appCertPublicKey_*.crt).",
        None,
        example="keys/appCertPublicKey.crt",
    )
    alipay_cert_file: Path | None = setting(
        "Certificate mode: the Alipay public-key certificate from the console (alipayCertPublicKey_RSA2.crt). "
        "Certificates Alipay rotates to later are downloaded, checked and kept in state_dir/alipay_certs.",
        None,
        example="keys/alipayCertPublicKey_RSA2.crt",
    )
    alipay_root_cert_file: Path | None = setting(
        "Certificate mode: the Alipay root certificate bundle from the console (alipayRootCert.crt).",
        None,
        example="keys/alipayRootCert.crt",
    )
    gateway: str = setting("'production', 'sandbox', or a gateway URL.", "production", check=_gateway)
    app_auth_token_file: Path | None = setting(
        "ISV mode only: file holding the merchant's app_auth_token (mode 0600).", None, secret=True
    )
    connect_timeout: float = setting("Seconds to wait for a connection to the gateway.", 5.0,
                                     between=SECONDS_5_MIN)  # fmt: skip
    read_timeout: float = setting("Seconds to wait for Alipay's answer once a request is sent.", 15.0,
                                  between=SECONDS_10_MIN)  # fmt: skip

    @property
    def cert_mode(self) -> bool:
        return self.alipay_public_key_file is None

    def cross_check(self) -> list[tuple[str, str]]:
        return key_mode_problems(self)


@dataclass(frozen=True)
class StoreSettings:
    id: str = setting("This store's id (letters and digits); part of every out_trade_no.", "S1", check=_short_id)
    till_id: str = setting("This till's id within the store (letters and digits).", "T1", check=_short_id)
    name: str = setting("The store name printed on slips.", "")


@dataclass(frozen=True)
class PathSettings:
    state_dir: Path = setting("Where the database and the agent's state live.", Path("/var/lib/posagent"))


def _loopback(value: str) -> str | None:
    # The ECR protocol has no TLS: it must never listen beyond this PC.
    return None if value in ("127.0.0.1", "::1", "localhost") else "the ECR port listens on loopback only"


_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")


def _group_name(value: str) -> str | None:
    return None if _GROUP_NAME.fullmatch(value) else "a group name (letters, digits, _ . -), or leave it unset"


@dataclass(frozen=True)
class EcrSettings:
    token_file: Path = setting("File holding the ECR token (mode 0600, written at install).",
                               Path("/etc/posagent/ecr_token"), secret=True)  # fmt: skip
    tcp_host: str = setting("Loopback address for the TCP listener.", "127.0.0.1", check=_loopback)
    tcp_port: int | None = setting("TCP port for the ECR protocol; `false` turns TCP off (0: any free port, for "
                                   "tests).", 7410, between=PORT, false_disables=True)  # fmt: skip
    unix_socket: Path | None = setting("Unix socket for the ECR protocol (mode 0660); `false` turns it off. One of "
                                       "tcp_port and unix_socket must stay on.", Path("/run/posagent/ecr.sock"),
                                       false_disables=True)  # fmt: skip
    unix_group: str | None = setting(
        "Group owning the Unix socket (the ECR software's group). The service user must be a member of it "
        "(usermod -aG GROUP posagent): the agent refuses to start otherwise.", None, check=_group_name)
    heartbeat_seconds: float = setting("Seconds between heartbeat events.", 15.0, between=SECONDS_1_HOUR)
    websocket_port: int | None = setting(
        "Port of the ECR protocol over WebSocket, for web POS pages (ws://127.0.0.1:PORT/ecr, loopback only); "
        "unset or `false`: off. Each page's origin is paired once: posagent ecr pair --origin URL.", None,
        between=PORT, false_disables=True)  # fmt: skip

    def cross_check(self) -> list[tuple[str, str]]:
        if self.tcp_port is None and self.unix_socket is None:
            return [("tcp_port", "tcp_port and unix_socket are both off: the ECR software could not reach the agent; "
                                 "keep one of them")]  # fmt: skip
        if self.websocket_port and self.websocket_port == self.tcp_port:
            return [("websocket_port", f"websocket_port and tcp_port are both {self.tcp_port}: give the WebSocket "
                                       "a port of its own")]  # fmt: skip
        return []


@dataclass(frozen=True)
class OutboxSettings:
    key_file: Path = setting("AES-256 key sealing personal data in the database (mode 0600, made at install).",
                             Path("/etc/posagent/outbox.key"), secret=True)  # fmt: skip
    max_pending: int = setting("Most jobs waiting at once; beyond it new work is refused (OUTBOX_FULL).", 100_000,
                               between=Range(1, 10_000_000))  # fmt: skip
    max_db_megabytes: int = setting("Largest database size in MiB; beyond it new work is refused.", 512,
                                    between=Range(1, 1_048_576))  # fmt: skip
    concurrency: int = setting("Calls to Alipay in flight at once.", 4, between=Range(1, 64))
    calls_per_second: float = setting("Most calls to Alipay started per second.", 20.0,
                                      between=Range(0, 1000, above=True))  # fmt: skip
    done_retention_days: float = setting("Days finished jobs are kept for inspection.", 7.0,
                                         between=Range(0, 3650, above=True))  # fmt: skip
    dead_retention_days: float = setting(
        "Days a job that gave up (dead) is kept, with its reason, visible and retryable, before it is deleted in "
        "the background. Dead payment reversals are kept until a technician purges them.", 7.0,
        between=Range(0, 3650, above=True))  # fmt: skip


@dataclass(frozen=True)
class PaymentSettings:
    deadline_seconds: float = setting("Seconds to wait for the customer to confirm before cancelling.", 60.0,
                                      between=SECONDS_1_HOUR)  # fmt: skip
    query_interval_seconds: float = setting("Seconds between trade.query polls (Alipay advises 3-6).", 4.0,
                                            between=SECONDS_1_MIN)  # fmt: skip


def _printer_uri(value: str) -> str | None:
    # The driver's own parser: an address the agent could not open at start is refused here, with its example.
    if not value.startswith(("tcp://", "usb://", "serial://", "file://")):
        return ("a printer address: tcp://HOST:9100, usb://VID:PID, serial:///dev/ttyUSB0?baud=19200 or "
                "file:///dev/usb/lp0")  # fmt: skip
    # Imported here: the headquarters relay reads its config with this package's schema and must not
    # load the till's drivers.
    from drivers.printer.uri import parse_printer_uri  # noqa: PLC0415

    try:
        parse_printer_uri(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class PrinterSettings:
    uri: str = setting("Where the receipt printer is.", check=_printer_uri, example="tcp://192.168.1.50:9100")
    paper_mm: int = setting("Paper width: 58 or 80.", 80, between=Range(58, 80),
                            check=lambda v: None if v in (58, 80) else "58 or 80")  # fmt: skip
    native_qr: bool = setting("Print QR codes with the printer's own QR command (false: as an image, for clones "
                              "that print the QR data as text).", True)  # fmt: skip
    code_page: str = setting("Pinned code page (CP437, CP858, ...) or GB18030 for Chinese printers.", "CP437")
    answers_status: bool = setting("false for printers that never answer status queries.", True)
    drawer_pin: int = setting("Cash drawer pin: 2 or 5.", 2, between=Range(2, 5),
                              check=lambda v: None if v in (2, 5) else "2 or 5")  # fmt: skip
    status_timeout: float = setting("Seconds to wait for a status reply.", 1.0, between=SECONDS_1_MIN)
    write_timeout: float = setting("Seconds a print job may take to be written.", 10.0, between=SECONDS_10_MIN)


@dataclass(frozen=True)
class ScannerSettings:
    path: str = setting("Stable device path (/dev/serial/by-id/... or /dev/input/by-id/...).")
    kind: Literal["serial", "hid"] = setting("serial (RS-232 or USB CDC-ACM) or hid (USB keyboard-wedge).",
                                              "serial")  # fmt: skip
    baudrate: int = setting("Serial speed.", 9600, between=Range(50, 4_000_000))
    terminator: Literal["CR", "LF", "CRLF", "NONE"] = setting("What ends a code (serial).", "CR")
    prefix: str = setting("Text the scanner puts before each code, stripped.", "")
    suffix: str = setting("Text the scanner puts after each code, stripped.", "")
    inter_char_gap: float | None = setting(
        "Seconds: a longer pause between two characters inside a line means the line so far was a read "
        "cut short; it is dropped with a warning and the next characters start a new code. Unset: 0.05 for "
        "serial, 0.2 for hid (scanners send a code as one burst). Raise it for a scanner programmed with an "
        "inter-character delay. Not used with terminator NONE (a pause ends the code there).",
        None, between=Range(0, 5, above=True))  # fmt: skip


@dataclass(frozen=True)
class CameraSettings:
    source: str = setting("Camera device (/dev/video0) or stream URL.")
    decoder: Literal["zxing", "pyzbar"] = setting("QR decoder.", "zxing")
    max_fps: float = setting("Frames decoded per second at most.", 10.0, between=Range(0, 120, above=True))


@dataclass(frozen=True)
class CodeSettings:
    card_prefixes: list[str] = setting("Membership card numbers start with one of these.", [])
    card_length: int | None = setting("Length of a membership card number, if fixed.", None, between=Range(1, 64))


_CARD_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$", re.ASCII)


def _card_amount(value: str) -> str | None:
    # Alipay's point and balance: numeric strings with at most 2 decimals, sent as they are.
    return None if _CARD_AMOUNT.fullmatch(value) else "a number of at most 2 decimals, e.g. \"0\" or \"12.50\""


@dataclass(frozen=True)
class MemberCardSettings:
    template_id: str = setting("The card template customers enroll with (from posagent card create-template).",
                               check=lambda v: None if v.isascii() and v.isdigit() and len(v) <= 32
                               else "up to 32 digits")  # fmt: skip
    callback_url: str | None = setting("Where Alipay sends the customer after the form (the merchant's callback, "
                                       "forwarded to this agent or its back office).", None)  # fmt: skip
    level: str | None = setting("Level of a new card (must be one of the template's levels).", None)
    initial_points: str | None = setting("Points of a new card (a number, up to 2 decimals).", "0",
                                         check=_card_amount)  # fmt: skip
    initial_balance: str | None = setting("Balance of a new card, in yuan (up to 2 decimals).", None,
                                          check=_card_amount)  # fmt: skip
    valid_days: int = setting("A new card is valid this many days.", 3650, between=Range(1, 36_500))
    auth_code_lifetime_seconds: float = setting(
        "How long a customer's auth_code stays usable: a card opening not reached Alipay by then is given up "
        "(the customer scans again).", 300.0, between=Range(0, 86_400, above=True))
    activation_refresh_hours: float = setting("How often the cached activation URL is renewed.", 24.0,
                                              between=Range(0, 8760, above=True))  # fmt: skip
    lookup_timeout: float = setting("Seconds an online member look-up may take before the cache answers.", 2.0,
                                    between=SECONDS_1_MIN)  # fmt: skip
    offline_slip_valid_days: float = setting(
        "A slip printed while Alipay was unreachable carries the template's QR code, which cannot name its "
        "enrollment: each such slip lets one callback without out_string open a card within this many days.",
        7.0, between=Range(0, 3650, above=True))  # fmt: skip


@dataclass(frozen=True)
class CallbackSettings:
    host: str = setting("Address the open-card callback endpoint listens on.", "127.0.0.1")
    port: int = setting("Port of the callback endpoint.", 7411, between=PORT)
    path: str = setting("Path of the callback endpoint.", "/alipay/open-card")
    per_source_per_minute: float = setting(
        "Callbacks accepted per minute from one address (an IPv6 /64 counts as one), in bursts of as many; "
        "beyond it the phone is asked to try again later (429). Only callbacks that name a pending enrollment "
        "count: forged ones are refused before.", 10.0, between=Range(0, 100_000, above=True))
    total_per_minute: float = setting("Callbacks accepted per minute from all addresses together, in bursts of as "
                                      "many.", 60.0, between=Range(0, 1_000_000, above=True))  # fmt: skip


_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
        return True
    except ValueError:
        return len(value) <= 253 and _HOST_NAME.fullmatch(value) is not None


def _host_names(values: list[str]) -> str | None:
    bad = [v for v in values if not _is_host(v)]
    if bad:
        return f"{bad[0]!r:.60} is not a host name or address (give names only: no scheme, port or path)"
    return None


@dataclass(frozen=True)
class StatusPageSettings:
    enabled: bool = setting("Serve the technicians' status page and /metrics.", True)
    host: str = setting("Address the status page listens on (loopback unless allow_remote).", "127.0.0.1")
    port: int = setting("Port of the status page and /metrics.", 7412, between=PORT)
    allow_remote: bool = setting("Let other computers reach the status page (they always need the ECR token).",
                                 False)  # fmt: skip
    metrics_need_token: bool = setting("Ask for the token on /metrics from this PC too (always asked off-box).",
                                       False)  # fmt: skip
    allowed_hosts: list[str] = setting(
        "Host names the page may be opened by besides localhost, 127.0.0.1 and [::1] (and, with allow_remote, "
        "the address it listens on). Any other name is refused (421), which stops DNS-rebinding pages.",
        [], check=_host_names, example='["till-3.shop.lan"]')  # fmt: skip

    def cross_check(self) -> list[tuple[str, str]]:
        if self.host not in _LOOPBACK and not self.allow_remote:
            return [("host", "listening beyond this PC needs allow_remote = true (the page shows the till's state)")]
        return []


def _broker_url(value: str) -> str | None:
    try:
        parse_broker_url(value)
    except BrokerUrlError as exc:
        return str(exc)
    return None


_MQTT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)


def _mqtt_name(value: str) -> str | None:
    return None if _MQTT_NAME.fullmatch(value) else "1-64 letters, digits or _ . : -"


@dataclass(frozen=True)
class FleetSettings:
    chain: str = setting("The chain's id at headquarters (letters and digits); with [store] id and till_id it names "
                         "this till's topics: posagent/<chain>/<store>/<till>/...", check=_short_id,
                         example="acme")  # fmt: skip
    broker: str = setting(
        "The chain's MQTT broker: mqtts://HOST:8883, or wss://HOST:443/mqtt where the store's firewall lets only "
        "HTTPS out. Always TLS (mqtt:// and ws:// only to a broker on this PC).", check=_broker_url,
        example="mqtts://broker.example.com:8883")
    key_file: Path = setting(
        "This till's fleet key (mode 0600; headquarters keeps a copy, written by posagent fleet provision). It seals "
        "the callbacks the relay sends this till, and signs the out_string of the slips this till prints.",
        Path("/etc/posagent/fleet.key"), secret=True)
    password_file: Path = setting("File holding this till's MQTT password (mode 0600).",
                                  Path("/etc/posagent/fleet_password"), secret=True)  # fmt: skip
    username: str | None = setting("MQTT user name (unset: <store>-<till>, as provisioned).", None, check=_mqtt_name)
    ca_file: Path | None = setting("CA certificates (PEM) the broker's certificate must chain to (unset: the "
                                   "system's CAs).", None, example="/etc/posagent/fleet_ca.pem")  # fmt: skip
    client_id: str | None = setting("MQTT client id (unset: posagent-<chain>-<store>-<till>); one per till, never "
                                    "shared: the broker keeps this till's queue under it.", None,
                                    check=_mqtt_name)  # fmt: skip
    session_expiry_hours: float = setting(
        "How long the broker keeps this till's queue of callbacks while the till is away (stopped, or its line "
        "down); callbacks older than that are lost.", 168.0, between=Range(0, 8760, above=True))
    status_interval_seconds: float = setting(
        "The till's status is republished on a change at most this often (and every 60 s regardless).", 5.0,
        between=Range(0, 600, above=True))  # fmt: skip
    keepalive_seconds: int = setting(
        "Seconds between MQTT keep-alive pings when idle: a dead line is noticed within 1.5 times this (by the "
        "broker too, which then marks the till offline). Lower it if a NAT drops idle connections sooner.", 60,
        between=Range(5, 1200))  # fmt: skip


@dataclass(frozen=True)
class AgentConfig:
    alipay: AlipaySettings
    store: StoreSettings
    paths: PathSettings
    ecr: EcrSettings
    outbox: OutboxSettings
    payments: PaymentSettings
    codes: CodeSettings
    status_page: StatusPageSettings
    printer: PrinterSettings | None = setting("The receipt printer (none: printing ops answer DEVICE_UNAVAILABLE).",
                                              None)  # fmt: skip
    scanners: list[ScannerSettings] = setting("Barcode scanners ([[scanners]] tables).", [])
    camera: CameraSettings | None = setting("A camera reading QR codes.", None)
    members: MemberCardSettings | None = setting("Membership cards (none: member ops answer NOT_FOUND).", None)
    callback: CallbackSettings | None = setting("The agent's own open-card callback endpoint (off when absent).",
                                                None)  # fmt: skip
    fleet: FleetSettings | None = setting(
        "The chain's link (off when absent): callbacks from headquarters' relay through an MQTT broker, and this "
        "till's status for the fleet view. See docs/operations.md, The fleet link.", None)

    def cross_check(self) -> list[tuple[str, str]]:
        if self.fleet is not None and self.fleet.key_file == self.outbox.key_file:
            # Headquarters holds a copy of the fleet key; the outbox key seals customers' data on this PC only.
            return [("fleet.key_file", "must not be the outbox key (headquarters gets a copy of the fleet key): give "
                                       "the fleet key file headquarters provisioned for this till")]
        return []
