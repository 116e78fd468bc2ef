"""Logging: one line per record on stdout (journald adds the time), secrets masked on the way out.

Masking is the last line of defence: code does not log secrets in the first place, but a payment
code or phone number inside an exception message from a library would otherwise reach the journal.

The daemon also keeps a small rotating file (`<state_dir>/logs/agent.log`) with the same masked
lines plus the time, for `posagent support-bundle` on PCs where the journal is volatile or absent.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
from datetime import datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from drivers.addresses import redact_urls

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

STDOUT_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE_BYTES = 1024 * 1024
LOG_FILE_BACKUPS = 3
LOG_FILE_MODE = 0o640  # the service's group (technicians) may read it; nobody else
LOG_DIR_MODE = 0o750

_log = logging.getLogger(__name__)


def mask_secrets(text: str) -> str:
    text = redact_urls(text)  # a camera or gateway URL's password (user:pass@, ?pwd=) from any message
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 with the UTC offset: the file outlives the PC's idea of its time zone.
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files (the current one and each new one after a rollover) are 0640.

    A file that cannot be written (a full disk) is said once on stderr, the journal's copy, instead of
    a traceback for every record; the journal keeps every line meanwhile."""

    _failing = False
    _failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if self._failing and not self._failed_now:
            self._failing = False
            sys.stderr.write(f"posagent: the log file {self.baseFilename} is written again\n")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if not self._failing:
            self._failing = True
            error = sys.exc_info()[1]
            reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            sys.stderr.write(f"posagent: the log file {self.baseFilename} cannot be written ({reason}); "
                             "the journal keeps every line until it can\n")  # fmt: skip

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
        with contextlib.suppress(OSError):  # not ours (made by root earlier): keep its mode rather than fail
            os.fchmod(fd, LOG_FILE_MODE)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # the handler keeps it open


def open_log_file(path: Path) -> logging.Handler:
    """The rotating, masked file handler; raises OSError when the file cannot be made or opened."""
    directory = path.parent
    if not directory.is_dir():
        directory.mkdir(mode=LOG_DIR_MODE, parents=True)
        os.chmod(directory, LOG_DIR_MODE)  # mkdir's mode goes through the umask
    handler = _PrivateRotatingFileHandler(path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS,
                                          encoding="utf-8", errors="backslashreplace")  # fmt: skip
    handler.setFormatter(MaskingFormatter(FILE_FORMAT))
    return handler


def configure(level: str = "INFO", module_levels: dict[str, str] | None = None, log_file: Path | None = None) -> None:
    """Masked lines on stdout, and in `log_file` too when given and it can be opened (never fatal)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(MaskingFormatter(STDOUT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, _PrivateRotatingFileHandler):  # a reconfigure must not leak the file
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, module_level in (module_levels or {}).items():
        logging.getLogger(name).setLevel(module_level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full request URLs
    if log_file is not None:
        try:
            root.addHandler(open_log_file(log_file))
        except OSError as exc:  # read-only file system, permissions: stdout (the journal) still has everything
            _log.warning("cannot write the log file %s (%s): logging to stdout only", log_file,
                         exc.strerror or type(exc).__name__)  # fmt: skip
