"""From the OpenAPI error model to the outbox's outcomes (pure)."""

from __future__ import annotations

from agent.alipay import AlipayError, BusinessError, ConfigurationError, RetryableError
from offline_queue import Dead, Outcome, RetryLater, Unknown

# A set-up problem (bad key, clock, permission) is fixed by a technician, not by time: wait long.
SETUP_RETRY_SECONDS = 300.0


def outcome_of(error: AlipayError) -> Outcome:
    """Definite rejections die with their reason; everything else is retried with the same key."""
    detail = str(error)
    if isinstance(error, BusinessError):
        return Dead(f"{error.hint or error.sub_msg or error.message} ({error.sub_code or error.code})")
    if isinstance(error, ConfigurationError):
        return RetryLater(f"set-up problem, waiting for a fix: {error.hint or detail}", after=SETUP_RETRY_SECONDS)
    if isinstance(error, RetryableError):
        return RetryLater(detail)
    return Unknown(detail)
