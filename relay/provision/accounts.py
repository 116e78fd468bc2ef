"""Who may do what on the chain's broker, and the files that say it. Pure: `relay.provision.files` writes them.

Three kinds of accounts (docs/fleet.md, security model):
- a till, `<store>-<till>`: reads its own callback topic, reads and writes its own status topic;
- the relay (one account shared by its instances): writes every till's callback topic, reads the statuses;
- a viewer (`posagent fleet status`, dashboards): reads the statuses.

The broker's ACL file is regenerated from the registry of provisioned accounts each time, so it never
drifts from what was provisioned and running the command again changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from agent.fleet.topics import ROOT, TillRef

Role = Literal["till", "relay", "viewer"]
REGISTRY_VERSION = 1
# Relay and viewer names have no "-", so they can never be taken for a till's `<store>-<till>`.
_SERVICE_NAME = re.compile(r"[A-Za-z0-9_]{1,32}", re.ASCII)


class ProvisionError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    till: TillRef | None = None  # tills only

    @classmethod
    def for_till(cls, till: TillRef) -> Account:
        return cls(till.name, "till", till)

    @classmethod
    def service(cls, name: str, role: Literal["relay", "viewer"]) -> Account:
        if not _SERVICE_NAME.fullmatch(name):
            raise ProvisionError(f"{role} account name: 1-32 letters, digits or _ (no '-': that is a till's name)")
        return cls(name, role)


def acl_lines(chain: str, account: Account) -> list[str]:
    """The ACL lines of one account (mosquitto's acl_file syntax)."""
    every = f"{ROOT}/{chain}/+/+"
    if account.role == "till":
        assert account.till is not None
        return [f"topic read {account.till.callback_topic}", f"topic readwrite {account.till.status_topic}"]
    if account.role == "relay":
        return [f"topic write {every}/callback", f"topic read {every}/status"]
    return [f"topic read {every}/status"]


def acl_text(chain: str, accounts: list[Account]) -> str:
    blocks = [f"user {a.name}\n" + "".join(f"{line}\n" for line in acl_lines(chain, a))
              for a in sorted(accounts, key=lambda a: (a.role != "relay", a.role != "viewer", a.name))]  # fmt: skip
    header = ("# The chain's broker ACL, written by `posagent fleet provision` from fleet.json.\n"
              "# Do not edit: the next run rewrites it. Anything not allowed here is denied.\n\n")  # fmt: skip
    return header + "\n".join(blocks)


# --- the registry (HQ/fleet.json): what was provisioned, no secrets ----------------------------------


@dataclass
class Registry:
    chain: str
    broker: str | None = None
    callback_url: str | None = None  # the relay's public URL, said in the tills' snippets
    accounts: dict[str, Account] | None = None

    def __post_init__(self) -> None:
        if self.accounts is None:
            self.accounts = {}

    def add(self, account: Account) -> None:
        assert self.accounts is not None
        existing = self.accounts.get(account.name)
        if existing is not None and existing.role != account.role:
            raise ProvisionError(f"{account.name} is already provisioned as a {existing.role}")
        self.accounts[account.name] = account

    def listed(self) -> list[Account]:
        assert self.accounts is not None
        return list(self.accounts.values())

    def to_json(self) -> str:
        accounts = []
        for account in sorted(self.listed(), key=lambda a: a.name):
            entry: dict[str, Any] = {"name": account.name, "role": account.role}
            if account.till is not None:
                entry.update(store=account.till.store, till=account.till.till)
            accounts.append(entry)
        body = {"v": REGISTRY_VERSION, "chain": self.chain, "broker": self.broker, "callback_url": self.callback_url,
                "accounts": accounts}  # fmt: skip
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Registry:
        try:
            body = json.loads(text)
            if body.get("v") != REGISTRY_VERSION:
                raise ProvisionError("fleet.json has a version this release does not know")
            registry = cls(str(body["chain"]), body.get("broker"), body.get("callback_url"))
            for entry in body["accounts"]:
                role = entry["role"]
                if role == "till":
                    registry.add(Account.for_till(TillRef(registry.chain, entry["store"], entry["till"])))
                elif role in ("relay", "viewer"):
                    registry.add(Account.service(entry["name"], role))
                else:
                    raise ProvisionError(f"fleet.json: unknown role {role!r:.20}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, ProvisionError):
                raise
            raise ProvisionError(f"fleet.json is not readable ({type(exc).__name__}); restore it from a backup") \
                from None  # fmt: skip
        return registry


# --- the config snippets a bundle carries ---------------------------------------------------------------


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic-string escapes


def till_snippet(chain: str, till: TillRef, broker: str, *, ca_file: str | None, callback_url: str | None) -> str:
    """The `[fleet]` section to paste into the till's agent.toml (the bundle's files go to /etc/posagent/)."""
    lines = [
        f"# Fleet link of till {till.till} in store {till.store} (chain {chain}), from `posagent fleet provision`.",
        "# Copy " + ("fleet.key, fleet_password and fleet-ca.pem" if ca_file else "fleet.key and fleet_password")
        + " to /etc/posagent/ (owner posagent, mode 0600),",
        "# paste this section into /etc/posagent/agent.toml, and check [store] id and till_id say "
        f"{till.store} and {till.till}.",
    ]
    if callback_url:
        lines.append(f"# In [members], set: callback_url = {_toml(callback_url)}")
    else:
        lines.append("# In [members], set callback_url to the relay's public URL.")
    lines += [
        "[fleet]",
        f"chain = {_toml(chain)}",
        f"broker = {_toml(broker)}",
        f"username = {_toml(till.name)}",
        'password_file = "/etc/posagent/fleet_password"',
        'key_file = "/etc/posagent/fleet.key"',
    ]
    if ca_file:
        lines.append('ca_file = "/etc/posagent/fleet-ca.pem"')
    return "\n".join(lines) + "\n"


def service_snippet(chain: str, account: Account, broker: str, *, password_file: str, ca_file: str | None,
                    keys_dir: str | None) -> str:  # fmt: skip
    """The relay's (or a viewer's) config sections for its broker account."""
    lines = [f"# The {account.role} account {account.name} of chain {chain}, from `posagent fleet provision`."]
    if account.role == "relay":
        lines += ["# Add [relay] public_url, and app_id and template_ids under [chain] (docs/fleet.md, the relay's "
                  "config)."]
    else:
        lines += ["# `posagent fleet status --config THIS_FILE` reads the chain's statuses with it."]
    lines += ["[chain]", f"id = {_toml(chain)}", "", "[broker]", f"url = {_toml(broker)}",
              f"username = {_toml(account.name)}", f"password_file = {_toml(password_file)}"]  # fmt: skip
    if ca_file:
        lines.append(f"ca_file = {_toml(ca_file)}")
    if keys_dir is not None:
        lines += ["", "[keys]", f"dir = {_toml(keys_dir)}"]
    return "\n".join(lines) + "\n"
