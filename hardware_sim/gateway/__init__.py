"""A simulated Alipay OpenAPI gateway (membership cards, oauth, bar-code payments) for tests and demos.

It has its own keys and its own RSA2 code (never the agent's), real error codes and envelopes,
durable state, idempotency, scripted payment codes, fault injection and an inspection endpoint."""

from __future__ import annotations

from .faults import FaultPlan
from .payment_codes import Behaviour, example
from .simulator import GatewaySimulator

__all__ = ["Behaviour", "FaultPlan", "GatewaySimulator", "example"]
