"""agent.ecr.client's helper for occur_time: China time whatever the PC's zone; a naive time is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.ecr import fields
from agent.ecr.client import china_time


def test_china_time_of_an_aware_moment_is_what_loyalty_update_takes() -> None:
    paris = timezone(timedelta(hours=1))
    assert china_time(datetime(2026, 11, 25, 3, 0, tzinfo=paris)) == "2026-11-25 10:00:00"
    assert china_time(datetime(2026, 12, 31, 20, 30, tzinfo=UTC)) == "2027-01-01 04:30:00"
    now = china_time(datetime.now(UTC))
    assert fields.timestamp({"occur_time": now}, "occur_time") == now


def test_a_naive_moment_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        china_time(datetime(2026, 11, 25, 10, 0))
