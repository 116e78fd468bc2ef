"""`posagent fleet broker-config`: write headquarters' Mosquitto configuration for the chain, and with
`make_ca` a private CA and the broker's certificate.

    HQ/broker/posagent.conf     the conf.d snippet (relay.provision.broker_conf), 0644
    HQ/ca.pem                   make_ca: the chain's CA certificate (public); `posagent fleet provision`
                                puts it in every bundle from then on
    HQ/ca/ca.key                make_ca: the CA's private key (0600): needed only to issue broker certificates
    HQ/broker/broker.pem, .key  make_ca: the broker's certificate and key (0600)
    HQ/passwd, HQ/acl           `posagent fleet provision`'s; made empty here if missing, so the broker starts

Re-runnable: an existing CA is kept (a new one would need a new bundle at every till), and so is the broker
certificate while it is signed by that CA, for the same names, and not within 30 days of its end.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from .accounts import ProvisionError, Registry
from .broker_conf import AUTOSAVE_SECONDS, MQTT_PORT, WS_PORT, BrokerConf, BrokerFiles, mosquitto_conf
from .files import CHAIN_CA, locked, private_folder, write_private
from .pki import (
    Issued,
    PkiError,
    broker_certificate,
    load_issued,
    make_ca,
    names_text,
    parse_hosts,
    pem_certificate,
    pem_private_key,
    still_fits,
)

CONF_NAME = "posagent.conf"
NO_ACCOUNT_ACL = b"# No account provisioned yet (posagent fleet provision rewrites this file): everything is denied.\n"


@dataclass
class BrokerConfigWritten:
    conf_file: Path
    conf: BrokerConf
    ca_file: Path | None = None  # HQ/ca.pem, when the chain has its own CA
    certificate: Path | None = None  # the broker's, when made here
    certificate_names: str = ""
    certificate_until: datetime.datetime | None = None
    new_ca: bool = False
    new_certificate: bool = False
    files: list[Path] = field(default_factory=list)  # written or rewritten
    notes: list[str] = field(default_factory=list)  # what the operator must do next


def _chain(hq: Path) -> str | None:
    try:
        return Registry.from_json((hq / "fleet.json").read_text(encoding="utf-8")).chain
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(f"{hq / 'fleet.json'} cannot be read: {exc}") from None


def write_broker_config(hq: Path, *, hosts: list[str] | None = None, port: int = MQTT_PORT, ws_port: int = WS_PORT,
                        bind: str | None = None, make_ca_files: bool = False, broker_dir: Path | None = None,
                        autosave_interval: int = AUTOSAVE_SECONDS,
                        now: datetime.datetime | None = None) -> BrokerConfigWritten:  # fmt: skip
    """Write the broker's config in the headquarters folder `hq`; ProvisionError for what cannot be done."""
    if hosts and not make_ca_files:
        raise ProvisionError("--host names the broker certificate that --make-ca makes; with your own PKI, put its "
                             "certificate where the config says (see the notes) and leave --host out")  # fmt: skip
    if broker_dir is not None and not broker_dir.is_absolute():
        raise ProvisionError(f"--broker-dir: {broker_dir} must be an absolute path (the broker's own folder)")
    try:
        names = parse_hosts(hosts or []) if make_ca_files else []
    except PkiError as exc:
        raise ProvisionError(str(exc)) from None
    hq = private_folder(hq.resolve())
    broker = hq / "broker"
    cert_file, key_file = broker / "broker.pem", broker / "broker.key"
    seen_by_broker = broker_dir or hq
    files = BrokerFiles(str(seen_by_broker / "passwd"), str(seen_by_broker / "acl"),
                        str(broker_dir / "broker.pem" if broker_dir else cert_file),
                        str(broker_dir / "broker.key" if broker_dir else key_file))  # fmt: skip
    with locked(hq):
        conf = BrokerConf(files, _chain(hq), port, ws_port, bind, autosave_interval)
        if problems := conf.problems():
            raise ProvisionError("; ".join(problems))
        result = BrokerConfigWritten(broker / CONF_NAME, conf)
        private_folder(broker)
        if make_ca_files:
            _pki(hq, names, now or datetime.datetime.now(datetime.UTC), result)
        if (hq / CHAIN_CA).is_file():
            result.ca_file = hq / CHAIN_CA
        _accounts_files(hq, result)
        write_private(result.conf_file, mosquitto_conf(conf).encode())
        os.chmod(result.conf_file, 0o644)  # no secret in it; the broker reads it
        result.files.append(result.conf_file)
        _notes(hq, broker_dir, cert_file, key_file, result)
    return result


def _pki(hq: Path, names: list[x509.GeneralName], now: datetime.datetime, result: BrokerConfigWritten) -> None:
    ca_pem, ca_key = hq / CHAIN_CA, private_folder(hq / "ca") / "ca.key"
    if ca_pem.exists() or ca_key.exists():
        try:
            ca = load_issued(ca_key.read_bytes(), ca_pem.read_bytes())
        except (OSError, PkiError) as exc:
            raise ProvisionError(f"the chain's CA ({ca_pem}, {ca_key}) is not usable ({exc}); move both aside to make "
                                 "a new one (every till then needs its bundle again)") from None  # fmt: skip
    else:
        ca = make_ca(result.conf.chain or hq.name, now)
        write_private(ca_key, pem_private_key(ca.key))
        write_private(ca_pem, pem_certificate(ca.certificate))
        os.chmod(ca_pem, 0o644)  # a certificate: public
        result.files += [ca_key, ca_pem]
        result.new_ca = True
    cert_file, key_file = hq / "broker" / "broker.pem", hq / "broker" / "broker.key"
    issued: Issued | None = None
    try:
        issued = load_issued(key_file.read_bytes(), cert_file.read_bytes())
    except (OSError, PkiError):
        issued = None  # none yet, or not a pair: issue one
    if issued is None or not still_fits(issued.certificate, ca.certificate, names, now):
        issued = broker_certificate(ca, names, now)
        write_private(key_file, pem_private_key(issued.key))
        write_private(cert_file, pem_certificate(issued.certificate))
        os.chmod(cert_file, 0o644)
        result.files += [key_file, cert_file]
        result.new_certificate = True
    result.certificate = cert_file
    result.certificate_names = names_text(names)
    result.certificate_until = issued.certificate.not_valid_after_utc


def _accounts_files(hq: Path, result: BrokerConfigWritten) -> None:
    """Mosquitto refuses to start without its password file: empty ones until `posagent fleet provision` runs."""
    for name, data, mode in (("passwd", b"", 0o600), ("acl", NO_ACCOUNT_ACL, 0o644)):
        if not (hq / name).exists():
            write_private(hq / name, data)
            os.chmod(hq / name, mode)
            result.files.append(hq / name)
            if name == "passwd":
                result.notes.append("no account yet: run `posagent fleet provision` for the relay and each till")


def _notes(hq: Path, broker_dir: Path | None, cert_file: Path, key_file: Path, result: BrokerConfigWritten) -> None:
    have_certificate = cert_file.exists() and key_file.exists()
    if broker_dir is None:
        if not have_certificate:
            result.notes.append(f"put the broker's certificate (PEM, with its intermediates) at {cert_file} and its "
                                f"key at {key_file} (0600), or run again with --make-ca --host NAME")  # fmt: skip
        result.notes.append(f"the config names the files in {hq} where they are: the broker must run as a user that "
                            f"reads them, or run again with --broker-dir /etc/mosquitto/posagent to install copies")
    else:
        tls = f"{key_file} {cert_file} " if have_certificate else ""
        if not have_certificate:
            result.notes.append(f"put the broker's certificate (PEM, with its intermediates) at "
                                f"{broker_dir}/broker.pem and its key at {broker_dir}/broker.key (0600, owner "
                                "mosquitto)")  # fmt: skip
        result.notes += [
            f"on the broker: install -d -o mosquitto -m 0700 {broker_dir}",
            f"on the broker: install -o mosquitto -m 0600 {hq / 'passwd'} {hq / 'acl'} {tls}{broker_dir}/",
            f"on the broker: install -m 0644 {result.conf_file} /etc/mosquitto/conf.d/ && systemctl restart mosquitto",
        ]
        result.notes.append(f"after each `posagent fleet provision`: copy {hq / 'passwd'} and {hq / 'acl'} to "
                            f"{broker_dir}/ again and `systemctl reload mosquitto`")  # fmt: skip
    if result.ca_file is not None:
        result.notes.append(f"the tills and the relay trust {result.ca_file}: `posagent fleet provision` puts it in "
                            "every bundle (run it again for accounts provisioned before)")  # fmt: skip
