"""Logging: one line per record on stdout (journald adds the time), secrets masked on the way out.

Masking is the last line of defence: code does not log secrets in the first place, but a payment
code or phone number inside an exception message from a library would otherwise reach the journal.
"""

from __future__ import annotations

import logging
import re
import sys

_PATTERNS = (
    # Alipay payment codes (16-24 digits, 25-30) and other long digit runs: keep the last 4.
    (re.compile(r"(?<!\d)(\d{2})\d{10,18}(\d{4})(?!\d)"), r"\1**********\2"),
    # Chinese mobile numbers.
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    # Alipay user tokens and auth codes.
    (re.compile(r"\b(authusr|authbse|auth)[A-Za-z0-9]{8,}\b"), r"\1<secret>"),
    (re.compile(r"(?i)\b(token|auth_code|access_token|refresh_token|app_auth_token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+"),
     r"\1\2<secret>"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), "<private key>"),
)  # fmt: skip


def mask_secrets(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


def configure(level: str = "INFO", module_levels: dict[str, str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(MaskingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, module_level in (module_levels or {}).items():
        logging.getLogger(name).setLevel(module_level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full request URLs
