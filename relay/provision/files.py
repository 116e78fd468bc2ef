"""`posagent fleet provision`: write an account's credentials at headquarters and its bundle.

    HQ/fleet.json                     what is provisioned (chain, broker URL, accounts; no secrets)
    HQ/keys/<store>-<till>.key        the till's fleet key, headquarters' copy (0600): the relay's [keys] dir
    HQ/passwd                         the broker's password file (by mosquitto_passwd; hashes only)
    HQ/acl                            the broker's ACL, regenerated from fleet.json
    HQ/ca.pem                         read, not written: the chain's CA (`posagent fleet broker-config --make-ca`),
                                      put in every bundle when --ca-file is not given
    HQ/bundles/<name>/                what the account's machine needs, all 0600:
        till:   fleet.key, fleet_password, fleet.toml ([fleet] to paste), fleet-ca.pem (with --ca-file)
        relay:  relay_password, relay.toml ([chain] [broker] [keys] to start the relay's config from)
        viewer: viewer_password, viewer.toml (usable as is: posagent fleet status --config viewer.toml)

Re-runnable: an existing key is kept (never rotated behind anyone's back), and so is the password while the
bundle still holds it; the ACL and the password entry are rewritten to the same effect. Runs are serialised
by a lock on HQ/.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.fleet.broker_url import BrokerUrlError, parse_broker_url
from offline_queue import KeyFileError, create_key_file, load_key_file

from ..config import public_url_problem
from .accounts import Account, ProvisionError, Registry, acl_text, service_snippet, till_snippet

BROKER_PLACEHOLDER = "mqtts://BROKER.EXAMPLE:8883"
CHAIN_CA = "ca.pem"  # HQ/ca.pem: the chain's private CA (broker-config --make-ca), the default --ca-file


def mosquitto_passwd() -> str | None:
    found = shutil.which("mosquitto_passwd")
    if found:
        return found
    return "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None


@dataclass
class Provisioned:
    account: Account
    bundle: Path
    files: list[Path] = field(default_factory=list)  # written or rewritten, bundle and headquarters
    new_key: bool = False
    new_password: bool = False
    notes: list[str] = field(default_factory=list)  # what the operator must do next


def write_private(path: Path, data: bytes) -> None:
    """Write `path` (0600) atomically: a reader sees the old file or the new one, never half."""
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(hq: Path) -> Iterator[None]:
    with open(hq / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _registry(hq: Path, chain: str) -> Registry:
    path = hq / "fleet.json"
    try:
        registry = Registry.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Registry(chain)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(f"{path} cannot be read: {exc}") from None
    if registry.chain != chain:
        raise ProvisionError(f"{hq} holds chain {registry.chain}, not {chain} (one folder per chain)")
    return registry


def _password(file: Path, result: Provisioned) -> str:
    """The account's password: kept while its bundle still holds it, else a new one."""
    try:
        kept = file.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        kept = ""
    if kept:
        return kept
    result.new_password = True
    return secrets.token_urlsafe(24)


def provision(hq: Path, chain: str, account: Account, *, broker: str | None = None, ca_file: Path | None = None,
              callback_url: str | None = None) -> Provisioned:  # fmt: skip
    """Provision `account` of `chain` in the headquarters folder `hq`; ProvisionError for what cannot be done."""
    if broker is not None:
        try:
            parse_broker_url(broker)
        except BrokerUrlError as exc:
            raise ProvisionError(f"--broker: {exc}") from None
    if callback_url is not None and (problem := public_url_problem(callback_url)) is not None:
        raise ProvisionError(f"--callback-url: {problem}")
    if ca_file is not None and not ca_file.is_file():
        raise ProvisionError(f"--ca-file: {ca_file} does not exist")
    hq = private_folder(hq.resolve())
    if ca_file is None and (hq / CHAIN_CA).is_file():
        ca_file = hq / CHAIN_CA  # the chain's own CA, from `posagent fleet broker-config --make-ca`
    with locked(hq):
        return _provision(hq, chain, account, broker=broker, ca_file=ca_file, callback_url=callback_url)


def _provision(hq: Path, chain: str, account: Account, *, broker: str | None, ca_file: Path | None,
               callback_url: str | None) -> Provisioned:  # fmt: skip
    registry = _registry(hq, chain)
    registry.add(account)  # ProvisionError for a name taken by another role
    registry.broker = broker or registry.broker
    registry.callback_url = callback_url or registry.callback_url
    broker_url = registry.broker or BROKER_PLACEHOLDER
    bundle = private_folder(private_folder(hq / "bundles") / account.name)
    result = Provisioned(account, bundle)
    if registry.broker is None:
        result.notes.append(f"no --broker given yet: the snippet says {BROKER_PLACEHOLDER}; run again with --broker")
    ca_in_bundle: str | None = None
    if account.role == "till":
        assert account.till is not None
        key = _till_key(hq, account, result)
        _copy_private(key, bundle / "fleet.key", result)
        password_file = bundle / "fleet_password"
        if ca_file is not None:
            _copy_private(ca_file, bundle / "fleet-ca.pem", result)
        ca_in_bundle = "fleet-ca.pem" if (bundle / "fleet-ca.pem").exists() else None
        password = _password(password_file, result)
        snippet = till_snippet(chain, account.till, broker_url, ca_file=ca_in_bundle,
                               callback_url=registry.callback_url)  # fmt: skip
        snippet_file = bundle / "fleet.toml"
    else:
        password_file = bundle / f"{account.role}_password"
        password = _password(password_file, result)
        if ca_file is not None:
            _copy_private(ca_file, bundle / "ca.pem", result)
        ca = str(bundle / "ca.pem") if (bundle / "ca.pem").exists() else None
        keys_dir = str(private_folder(hq / "keys")) if account.role == "relay" else None
        snippet = service_snippet(chain, account, broker_url, password_file=str(password_file), ca_file=ca,
                                  keys_dir=keys_dir)  # fmt: skip
        snippet_file = bundle / f"{account.role}.toml"
    for path, data in ((password_file, password.encode() + b"\n"), (snippet_file, snippet.encode())):
        write_private(path, data)
        result.files.append(path)
    write_private(hq / "fleet.json", registry.to_json().encode())
    result.files.append(hq / "fleet.json")
    _broker_password(hq, account.name, password, password_file, result)
    acl = hq / "acl"
    write_private(acl, acl_text(chain, registry.listed()).encode())
    os.chmod(acl, 0o644)  # no secret in it; the broker's user must read it
    result.files.append(acl)
    result.notes.append(f"reload the broker so it reads {hq / 'passwd'} and {acl} again: systemctl reload mosquitto "
                        "(or kill -HUP its pid)")  # fmt: skip
    return result


def _till_key(hq: Path, account: Account, result: Provisioned) -> Path:
    keys = private_folder(hq / "keys")
    key = keys / f"{account.name}.key"
    if key.exists():
        try:
            load_key_file(key)  # kept only if usable: a damaged key must be looked at, not silently replaced
        except KeyFileError as exc:
            raise ProvisionError(f"{exc}; move it aside to make a new one (the till then needs the new bundle)") \
                from None  # fmt: skip
        return key
    create_key_file(key)
    result.new_key = True
    result.files.append(key)
    return key


def _copy_private(source: Path, target: Path, result: Provisioned) -> None:
    write_private(target, source.read_bytes())
    result.files.append(target)


def _broker_password(hq: Path, name: str, password: str, password_file: Path, result: Provisioned) -> None:
    passwd = hq / "passwd"
    tool = mosquitto_passwd()
    if tool is None:
        result.notes.append(f"mosquitto_passwd is not installed here: on the broker, run "
                            f"`mosquitto_passwd -b PASSWORD_FILE {name} \"$(cat {password_file})\"`")  # fmt: skip
        return
    if not passwd.exists():
        write_private(passwd, b"")
    # The password on stdin (typed twice, as at a terminal), not as -b's argument: never in `ps` output.
    done = subprocess.run([tool, str(passwd), name], input=f"{password}\n{password}\n".encode(), capture_output=True,
                          check=False, timeout=30)  # fmt: skip
    if done.returncode != 0:
        # Its message, not the command line (which holds the password).
        reason = (done.stderr or done.stdout).decode("utf-8", "replace").strip()[:200]
        raise ProvisionError(f"mosquitto_passwd could not update {passwd}: {reason}")
    os.chmod(passwd, 0o600)
    result.files.append(passwd)
