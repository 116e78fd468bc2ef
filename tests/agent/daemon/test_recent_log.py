"""The status page's recent warnings: masked, newest first, bounded, and each one wakes the page."""

from __future__ import annotations

import logging

from agent.daemon.recent_log import RecentLog


def make_logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.recent.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def test_only_warnings_and_errors_are_kept_newest_first() -> None:
    recent = RecentLog()
    logger = make_logger(recent)
    logger.info("routine")
    logger.warning("first")
    logger.error("second")
    assert [(row.level, row.message) for row in recent.rows()] == [("ERROR", "second"), ("WARNING", "first")]


def test_secrets_are_masked_in_messages_and_exceptions() -> None:
    recent = RecentLog()
    logger = make_logger(recent)
    code, phone = "286512345678901234", "13812345678"
    logger.warning("scan %s from %s refused", code, phone)
    try:
        raise ValueError(f"bad auth_code={code}")
    except ValueError:
        logger.exception("lookup failed")
    text = " ".join(row.message for row in recent.rows())
    assert code not in text and phone not in text
    assert "1234" in text and "ValueError" in text


def test_memory_is_bounded_and_every_record_wakes_the_page() -> None:
    woken = []
    recent = RecentLog(keep=3, on_record=lambda: woken.append(1))
    logger = make_logger(recent)
    for i in range(5):
        logger.warning("w%d", i)
    assert [row.message for row in recent.rows()] == ["w4", "w3", "w2"]
    assert len(woken) == 5
