"""Alipay OpenAPI client: RSA2 signing, envelopes, response verification and the error model.

    from agent.alipay import AlipayClient, Credentials, apis
    async with AlipayClient(credentials, "sandbox") as client:
        card = await client.execute(apis.CardQuery(target_card_no="VIP0000000001"))
"""

from .client import AlipayClient, Timeouts
from .errors import (
    AlipayError,
    BusinessError,
    ConfigurationError,
    GatewayUnreachableError,
    NoAnswerError,
    ResponseVerificationError,
    RetryableError,
    TransientError,
    UnknownOutcomeError,
)
from .keys import KeyFormatError, load_private_key, load_public_key
from .protocol import Credentials, OpenApiProtocol, resolve_gateway

__all__ = [
    "AlipayClient", "AlipayError", "BusinessError", "ConfigurationError", "Credentials", "GatewayUnreachableError",
    "KeyFormatError", "NoAnswerError",
    "OpenApiProtocol", "ResponseVerificationError", "RetryableError", "Timeouts", "TransientError",
    "UnknownOutcomeError", "load_private_key", "load_public_key", "resolve_gateway",
]  # fmt: skip
