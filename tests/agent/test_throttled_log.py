"""A flood of refusals makes a few log lines and one count, not a line each."""

from __future__ import annotations

import logging

import pytest

from agent.throttled_log import BURST, ThrottledLog


def test_a_flood_is_a_few_lines_and_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttled = ThrottledLog(logging.getLogger("agent.test"), lambda: now[0], "callbacks refused")
    with caplog.at_level(logging.WARNING):
        for n in range(1000):
            throttled.warning("refused %d", n)
        lines = [r.getMessage() for r in caplog.records]
        assert lines == [f"refused {n}" for n in range(BURST)]
        now[0] += 10  # the flood is over
        throttled.warning("refused %d", 1000)
    assert [r.getMessage() for r in caplog.records][BURST:] == ["995 more callbacks refused, not logged one by one",
                                                                "refused 1000"]  # fmt: skip


def test_flush_says_the_count_once(caplog: pytest.LogCaptureFixture) -> None:
    throttled = ThrottledLog(logging.getLogger("agent.test"), lambda: 0.0)
    with caplog.at_level(logging.WARNING):
        for _ in range(BURST + 3):
            throttled.warning("x")
        throttled.flush()
        throttled.flush()
    assert [r.getMessage() for r in caplog.records].count("3 more warnings, not logged one by one") == 1
