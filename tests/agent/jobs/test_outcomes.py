"""How an OpenAPI error becomes an outbox outcome: die on definite rejections, otherwise keep the key."""

from __future__ import annotations

from agent.alipay.errors import (
    BusinessError,
    ConfigurationError,
    GatewayReply,
    ResponseVerificationError,
    RetryableError,
    UnknownOutcomeError,
)
from agent.jobs.outcomes import SETUP_RETRY_SECONDS, outcome_of
from offline_queue import Dead, RetryLater, Unknown


def test_definite_rejections_die_with_a_reason_a_cashier_can_read() -> None:
    error = BusinessError("Invalid Arguments", method="alipay.system.oauth.token",
                          reply=GatewayReply("40002", "Invalid Arguments", "isv.code-invalid"))  # fmt: skip
    outcome = outcome_of(error)
    assert isinstance(outcome, Dead)
    assert "scan the activation QR again" in outcome.reason and "isv.code-invalid" in outcome.reason


def test_setup_problems_wait_for_a_technician_instead_of_dying() -> None:
    outcome = outcome_of(ConfigurationError("bad key", method="m", reply=GatewayReply("40002", None,
                                                                                      "isv.invalid-signature")))  # fmt: skip
    assert isinstance(outcome, RetryLater) and outcome.after == SETUP_RETRY_SECONDS


def test_transient_errors_are_retried_with_the_same_key() -> None:
    assert isinstance(outcome_of(RetryableError("refused", method="m")), RetryLater)
    assert isinstance(outcome_of(UnknownOutcomeError("timeout", method="m")), Unknown)
    assert isinstance(outcome_of(ResponseVerificationError("forged", method="m")), Unknown)
