"""The last line of defence: secrets that reach a log record are masked on the way out, on stdout and in the file."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from agent.daemon.logs import MaskingFormatter, configure, mask_secrets

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


def test_passwords_in_urls_are_masked() -> None:
    text = mask_secrets("camera rtsp://admin:S3cr3t-pw@192.168.1.64/stream lost; snapshot "
                        "http://cam/snap.cgi?user=admin&pwd=S3cr3t-pw failed")  # fmt: skip

    assert "S3cr3t-pw" not in text
    assert "rtsp://admin:***@192.168.1.64/stream" in text and "user=admin&pwd=***" in text


def test_ordinary_numbers_stay_readable() -> None:
    assert (
        mask_secrets("sale A-1001 amount 12.50 attempt 3 port 7410") == "sale A-1001 amount 12.50 attempt 3 port 7410"
    )


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


# ---- the daemon's own log file --------------------------------------------------------------


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """configure() replaces the root logger's handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers:
        if handler not in saved:
            handler.close()
    root.handlers[:] = saved
    root.setLevel(level)


def file_handler(root: logging.Logger) -> RotatingFileHandler:
    (handler,) = [h for h in root.handlers if isinstance(h, RotatingFileHandler)]
    return handler


def test_records_go_to_the_file_masked_with_time_level_and_logger(
    root_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "state" / "logs" / "agent.log"
    configure("INFO", log_file=log_file)
    logging.getLogger("agent.sales").warning("paying %s for %s", PAYMENT_CODE, PHONE)
    file_handler(root_logger).flush()

    (line,) = log_file.read_text().splitlines()
    stamp, level, name, message = line.split(" ", 3)
    assert datetime.fromisoformat(stamp).tzinfo is not None
    assert (level, name) == ("WARNING", "agent.sales:")
    assert PAYMENT_CODE not in line and PHONE not in line and "4321" in message
    assert "WARNING agent.sales: paying" in capsys.readouterr().out  # stdout as before
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(log_file.parent).st_mode) == 0o750


def test_the_file_rotates_at_1_mib_keeping_3_and_new_files_stay_private(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "agent.log"
    configure("INFO", log_file=log_file)
    handler = file_handler(root_logger)
    assert (handler.maxBytes, handler.backupCount) == (1024 * 1024, 3)
    logging.getLogger("agent").info("before")
    handler.doRollover()
    logging.getLogger("agent").info("after")
    handler.flush()
    assert "before" in (tmp_path / "logs" / "agent.log.1").read_text()
    assert "after" in log_file.read_text()
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o640


def test_an_unwritable_log_directory_only_warns(
    root_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the directory should be")  # fails even for root, unlike chmod
    configure("INFO", log_file=blocker / "agent.log")
    logging.getLogger("agent").info("still running")
    out = capsys.readouterr().out
    assert "cannot write the log file" in out and "still running" in out
    assert not any(isinstance(h, RotatingFileHandler) for h in root_logger.handlers)


def test_a_full_disk_is_said_once_not_a_traceback_per_record(
    root_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "agent.log"
    configure("INFO", log_file=log_file)
    handler = file_handler(root_logger)
    handler.acquire()
    try:
        assert handler.stream is not None
        handler.stream.close()
        handler.stream = open("/dev/full", "a", encoding="utf-8")  # every write: ENOSPC  # noqa: SIM115
    finally:
        handler.release()
    for n in range(20):
        logging.getLogger("agent.test").warning("record %d", n)
    err = capsys.readouterr()
    assert err.err.count("cannot be written (No space left on device)") == 1
    assert "Traceback" not in err.err and "Logging error" not in err.err
    assert "record 19" in err.out  # the journal's copy (stdout) has every line
    handler.acquire()
    try:
        with contextlib.suppress(OSError):  # what it still holds cannot be flushed
            handler.stream.close()
        handler.stream = open(log_file, "a", encoding="utf-8")  # noqa: SIM115  # space again
    finally:
        handler.release()
    logging.getLogger("agent.test").warning("after")
    assert "is written again" in capsys.readouterr().err
