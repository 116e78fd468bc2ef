"""Fault injection, pure: a `FaultPlan` plus a seeded RNG decide what happens to one request.

Kinds: `latency` (seconds added before processing), `error_rate` (reply 20000 isp.unknow-error
without processing), `reset_rate` (reset the connection before processing), `drop_rate` (process,
then close without replying: the caller cannot know it happened), `bad_sign_rate` (a well-formed
but wrong response signature), `outage_until` (epoch seconds: until then every connection is
reset), and what a load balancer in front of the gateway does: `proxy_5xx_rate` (answer 503 with an
HTML page without passing the request on) and `processed_5xx_rate` (pass it on, let it be processed,
then answer 504 with an empty body: the buyer may be charged while the caller sees only an error).
Rates are probabilities in [0, 1]; `methods` limits the plan (except outages) to some API methods."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any


class Action(Enum):
    NONE = "none"
    ERROR = "error"
    RESET = "reset"
    DROP = "drop"
    BAD_SIGN = "bad_sign"
    OUTAGE = "outage"
    PROXY_5XX = "proxy_5xx"
    PROCESSED_5XX = "processed_5xx"


@dataclass(frozen=True)
class Decision:
    action: Action = Action.NONE
    latency: float = 0.0


RATE_FIELDS = ("error_rate", "reset_rate", "drop_rate", "bad_sign_rate", "proxy_5xx_rate", "processed_5xx_rate")


@dataclass(frozen=True)
class FaultPlan:
    latency: float = 0.0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    drop_rate: float = 0.0
    bad_sign_rate: float = 0.0
    proxy_5xx_rate: float = 0.0
    processed_5xx_rate: float = 0.0
    outage_until: float = 0.0
    methods: frozenset[str] = field(default_factory=frozenset)  # empty = every method
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in RATE_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")

    def decide(self, method: str, now: float, rng: random.Random) -> Decision:
        if now < self.outage_until:
            return Decision(Action.OUTAGE)
        if self.methods and method not in self.methods:
            return Decision()
        # One draw per rate, in a fixed order, so a seed replays the same sequence.
        for action, rate in (
            (Action.RESET, self.reset_rate),
            (Action.ERROR, self.error_rate),
            (Action.DROP, self.drop_rate),
            (Action.BAD_SIGN, self.bad_sign_rate),
            (Action.PROXY_5XX, self.proxy_5xx_rate),
            (Action.PROCESSED_5XX, self.processed_5xx_rate),
        ):
            if rate and rng.random() < rate:
                return Decision(action, self.latency)
        return Decision(Action.NONE, self.latency)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["methods"] = sorted(self.methods)
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, now: float = 0.0, base: FaultPlan | None = None) -> FaultPlan:
        """A plan from JSON-ish data, over `base` (default: no faults). `outage` (seconds from `now`)
        is a convenience for `outage_until`. Unknown keys or bad values -> ValueError."""
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key == "outage":
                changes["outage_until"] = now + _number(key, value) if _number(key, value) > 0 else 0.0
            elif key == "methods":
                changes["methods"] = _methods(value)
            elif key == "seed":
                changes["seed"] = None if value in (None, "") else int(_number(key, value))
            elif key in ("latency", "outage_until", *RATE_FIELDS):
                changes[key] = _number(key, value)
            else:
                raise ValueError(f"unknown fault setting {key!r}")
        return replace(base or cls(), **changes)

    @classmethod
    def from_pairs(cls, pairs: list[str], *, now: float = 0.0) -> FaultPlan:
        """From CLI `KEY=VALUE` strings (methods comma-separated)."""
        data: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"expected KEY=VALUE, got {pair!r}")
            data[key.strip()] = value.strip()
        return cls.from_mapping(data, now=now)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None


def _methods(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(m.strip() for m in value.split(",") if m.strip())
    if isinstance(value, list) and all(isinstance(m, str) for m in value):
        return frozenset(value)
    raise ValueError("methods must be a list of method names or a comma-separated string")
