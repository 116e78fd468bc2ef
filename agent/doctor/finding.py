"""What a check concludes: a status, what was seen, and what to do about it (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.addresses import redact_urls


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"  # works now, but will bite (near a cap, not under systemd, paper near end...)
    FAIL = "FAIL"  # the agent cannot do its job until someone fixes this


@dataclass(frozen=True, slots=True)
class Finding:
    """`name` is stable (tools match on it); `message` and `fix` are for people and never hold secrets."""

    name: str
    status: Status
    message: str
    fix: str | None = None

    def __post_init__(self) -> None:
        # Checks quote device and gateway addresses (and OpenCV/httpx errors that echo them): passwords masked.
        object.__setattr__(self, "name", redact_urls(self.name))
        object.__setattr__(self, "message", redact_urls(self.message))
        if self.fix is not None:
            object.__setattr__(self, "fix", redact_urls(self.fix))

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "status": self.status.value, "message": self.message, "fix": self.fix}


def ok(name: str, message: str) -> Finding:
    return Finding(name, Status.OK, message)


def warn(name: str, message: str, fix: str | None = None) -> Finding:
    return Finding(name, Status.WARN, message, fix)


def fail(name: str, message: str, fix: str | None = None) -> Finding:
    return Finding(name, Status.FAIL, message, fix)
