"""The last line of defence: secrets that reach a log record are masked on the way out."""

from __future__ import annotations

import io
import logging

from agent.daemon.logs import MaskingFormatter, mask_secrets

PAYMENT_CODE = "286543210987654321"
PHONE = "13552319194"
TOKEN = "authusrB94739c226e9c400196af5bc4740a9X01"


def test_payment_codes_phones_tokens_and_keys_are_masked() -> None:
    text = mask_secrets(
        f"pay {PAYMENT_CODE} for {PHONE} with {TOKEN}; auth_code=7f3dc16c1f8641a39e8a27f95abcQX20 "
        "token: s3cr3t -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
    )
    for secret in (PAYMENT_CODE, PHONE, TOKEN, "7f3dc16c1f8641a39e8a27f95abcQX20", "s3cr3t", "MIIE"):
        assert secret not in text
    assert "4321" in text  # enough left to tell codes apart


def test_ordinary_numbers_stay_readable() -> None:
    assert mask_secrets("sale A-1001 amount 12.50 attempt 3 port 7410") == "sale A-1001 amount 12.50 attempt 3 port 7410"


def test_the_formatter_masks_arguments_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(MaskingFormatter("%(message)s"))
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError(f"bad code {PAYMENT_CODE}")
    except ValueError:
        logger.exception("failed for %s", PHONE)
    out = stream.getvalue()
    assert PAYMENT_CODE not in out and PHONE not in out and "ValueError" in out
