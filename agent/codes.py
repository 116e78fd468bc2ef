"""What a scanned code is: classification and masking (pure functions, no I/O).

Flows route on the class: an Alipay payment code starts a payment, a membership card number a
member look-up, an activation URL is recognised (the customer scanned our own slip), WeChat and
UnionPay payment codes are recognised so the cashier gets "not supported here" rather than
"unknown code". Payment codes are secrets: everything but the call that uses them shows `mask()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

# re.ASCII: `\d` must not match full-width or other Unicode digits.
# Alipay's own rule (SDK Javadoc): 16-24 digits starting with 25..30.
_ALIPAY_PAYMENT = re.compile(r"(2[5-9]|30)\d{14,22}", re.ASCII)
# WeChat Pay payment codes: 18 digits starting with 10..15.
_WECHAT_PAYMENT = re.compile(r"1[0-5]\d{16}", re.ASCII)
# UnionPay QuickPass (C2B) payment codes: 19 digits starting with 62.
_UNIONPAY_PAYMENT = re.compile(r"62\d{17}", re.ASCII)
# Alipay face-pay tokens (`scene=security_code`): a payment credential too.
_ALIPAY_FACE_TOKEN = re.compile(r"fp[0-9A-Za-z]{33}")
_CARD_NUMBER = re.compile(r"[0-9A-Za-z]+")
_URL = re.compile(r"(https?|alipays?)://\S+", re.IGNORECASE | re.ASCII)
_ACTIVATION_PATH = "/account/openform/activecard.htm"


class CodeClass(StrEnum):
    ALIPAY_PAYMENT = "alipay_payment"
    MEMBER_CARD = "member_card"
    ACTIVATION_URL = "activation_url"
    URL = "url"
    WECHAT_PAYMENT = "wechat_payment"
    UNIONPAY_PAYMENT = "unionpay_payment"
    UNKNOWN = "unknown"


# Classes whose raw text is a credential: never logged, never sent to the ECR in clear.
SECRET_CLASSES = frozenset({CodeClass.ALIPAY_PAYMENT, CodeClass.WECHAT_PAYMENT, CodeClass.UNIONPAY_PAYMENT})


@dataclass(frozen=True, slots=True)
class Classification:
    """The class of a code and why. Never holds the code itself, so it is safe to log."""

    kind: CodeClass
    supported: bool
    detail: str = ""

    @property
    def is_secret(self) -> bool:
        return self.kind in SECRET_CLASSES


def classify(
    text: str,
    *,
    card_prefixes: Iterable[str] = (),
    card_length: int | None = None,
) -> Classification:
    """Classify one scanned code.

    Payment codes are checked before membership cards: a payment code mistaken for a card number
    would be sent to the member look-up in clear, the worse error. Card numbers are matched only
    when `card_prefixes` are configured (and `card_length`, when given, matches exactly).
    """
    code = text.strip()
    if _ALIPAY_PAYMENT.fullmatch(code):
        return Classification(CodeClass.ALIPAY_PAYMENT, True, f"{len(code)} digits")
    if _ALIPAY_FACE_TOKEN.fullmatch(code):
        return Classification(CodeClass.ALIPAY_PAYMENT, True, "face-pay token")
    if _WECHAT_PAYMENT.fullmatch(code):
        return Classification(CodeClass.WECHAT_PAYMENT, False, "WeChat Pay is not supported")
    if _UNIONPAY_PAYMENT.fullmatch(code):
        return Classification(CodeClass.UNIONPAY_PAYMENT, False, "UnionPay is not supported")
    prefix = _card_prefix(code, card_prefixes, card_length)
    if prefix is not None:
        return Classification(CodeClass.MEMBER_CARD, True, f"prefix {prefix!r}")
    if _URL.fullmatch(code):
        if _is_activation_url(code):
            return Classification(CodeClass.ACTIVATION_URL, True, "Alipay card activation form")
        return Classification(CodeClass.URL, False, urlsplit(code).scheme.lower())
    return Classification(CodeClass.UNKNOWN, False, f"{len(code)} characters")


def _card_prefix(code: str, prefixes: Iterable[str], length: int | None) -> str | None:
    if not _CARD_NUMBER.fullmatch(code) or (length is not None and len(code) != length):
        return None
    return next((p for p in prefixes if p and code.startswith(p)), None)


def _is_activation_url(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    on_alipay = host == "alipay.com" or host.endswith(".alipay.com")
    return on_alipay and parts.path == _ACTIVATION_PATH and "template_id=" in parts.query


def mask(text: str) -> str:
    """Mask a code for display: first 2 and last 4 characters kept when it is long enough.

    `mask("286543210987654321")` -> `"28************4321"`. Short texts are fully masked, so a
    masked value never reveals more than 6 characters nor more than a third of the code.
    """
    n = len(text)
    if n >= 18:
        return text[:2] + "*" * (n - 6) + text[-4:]
    if n >= 12:
        return "*" * (n - 4) + text[-4:]
    return "*" * n


def display(text: str, classification: Classification) -> str:
    """What logs, events and technicians may see of a classified code.

    URLs keep scheme, host and path but lose the query (it may carry tokens or auth codes);
    everything else is masked.
    """
    if classification.kind in (CodeClass.URL, CodeClass.ACTIVATION_URL):
        parts = urlsplit(text.strip())
        suffix = "?..." if parts.query else ""
        host = parts.netloc.rpartition("@")[2]  # drop any user:password
        return f"{parts.scheme}://{host}{parts.path}{suffix}"
    return mask(text.strip())
