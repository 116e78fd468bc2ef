"""MQTT topics of the fleet link. One subtree per till, so a broker ACL can fence each till in:

    posagent/<chain>/<store>/<till>/callback   relay -> till, QoS 1, never retained: open-card callbacks
    posagent/<chain>/<store>/<till>/status     till -> everyone allowed, QoS 1, retained (last will: offline)

Chain, store and till ids are 1-16 ASCII letters or digits (the agent's store and till ids already
are), so no id can carry an MQTT wildcard (`+`, `#`) or a level separator (`/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "posagent"
CALLBACK = "callback"
STATUS = "status"
_ID = re.compile(r"[A-Za-z0-9]{1,16}", re.ASCII)


class TopicError(ValueError):
    pass


@dataclass(frozen=True)
class TillRef:
    """One till of one store of one chain: the unit of routing, credentials and ACL."""

    chain: str
    store: str
    till: str

    def __post_init__(self) -> None:
        for name in ("chain", "store", "till"):
            if not _ID.fullmatch(getattr(self, name)):
                raise TopicError(f"{name} id: 1-16 letters or digits")

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.chain}/{self.store}/{self.till}"

    @property
    def callback_topic(self) -> str:
        return f"{self.base}/{CALLBACK}"

    @property
    def status_topic(self) -> str:
        return f"{self.base}/{STATUS}"

    @property
    def name(self) -> str:
        """`<store>-<till>`: the till's MQTT user name and key file stem (unique within a chain)."""
        return f"{self.store}-{self.till}"


def status_filter(chain: str) -> str:
    """Every till's status in the chain (what the fleet view and the relay's metrics subscribe to)."""
    return f"{ROOT}/{chain}/+/+/{STATUS}"


def parse(topic: str) -> tuple[TillRef, str]:
    """(till, kind) of a fleet topic; TopicError for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[4] not in (CALLBACK, STATUS):
        raise TopicError("not a fleet topic")
    return TillRef(parts[1], parts[2], parts[3]), parts[4]
