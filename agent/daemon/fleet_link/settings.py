"""What the fleet link needs, gathered from `[fleet]`, `[store]` and the secret files. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from agent.fleet.broker_url import BrokerUrl, parse_broker_url
from agent.fleet.topics import TillRef

RECEIVE_MAXIMUM = 100  # callbacks the broker may hand over unacknowledged (bounds what the till holds in memory)


@dataclass(frozen=True)
class LinkSettings:
    till: TillRef
    broker: BrokerUrl
    username: str
    password: str
    client_id: str
    ca_file: Path | None
    session_expiry_seconds: int
    keepalive_seconds: int
    status_interval_seconds: float
    payload_key: bytes  # opens the callbacks the relay sealed for this till

    def __repr__(self) -> str:  # the password and the key are secrets
        return (f"LinkSettings(till={self.till!r}, broker='{self.broker}', username={self.username!r}, "
                f"client_id={self.client_id!r})")  # fmt: skip


def till_of(config: AgentConfig) -> TillRef:
    assert config.fleet is not None
    return TillRef(config.fleet.chain, config.store.id, config.store.till_id)


def default_client_id(till: TillRef) -> str:
    return f"posagent-{till.chain}-{till.store}-{till.till}"


def link_settings(config: AgentConfig, *, password: str, payload_key: bytes) -> LinkSettings:
    """`payload_key`: derived from the fleet key file (`.derive(agent.fleet.messages.PAYLOAD_KEY_LABEL)`)."""
    fleet = config.fleet
    assert fleet is not None
    till = till_of(config)
    return LinkSettings(
        till=till, broker=parse_broker_url(fleet.broker), username=fleet.username or till.name, password=password,
        client_id=fleet.client_id or default_client_id(till), ca_file=fleet.ca_file,
        session_expiry_seconds=round(fleet.session_expiry_hours * 3600), keepalive_seconds=fleet.keepalive_seconds,
        status_interval_seconds=fleet.status_interval_seconds, payload_key=payload_key,
    )  # fmt: skip


__all__ = ["RECEIVE_MAXIMUM", "LinkSettings", "default_client_id", "link_settings", "till_of"]
