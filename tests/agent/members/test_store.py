"""Enrollments and their slips are recorded together and survive a reopen (the agent restarting)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.members.store import Enrollment, MemberStore


def enrollment(job_id: str, print_job_id: str | None = None) -> Enrollment:
    return Enrollment(job_id, "20261125000000000001", f"SH01:T1:{job_id}", None, "hash", print_job_id or
                      f"enroll-{job_id}", None, 1795640937.0)  # fmt: skip


def test_a_slip_is_recorded_with_its_enrollment_and_follows_its_print_job(tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "agent.db")
    slip = store.add_enrollment(enrollment("E1"), "https://example.invalid/activate?x=1")
    assert (slip.state, slip.any_sent) == ("queued", False)
    store.slip_changed("enroll-E1", state="printing", reason=None, error_code=None, bytes_sent=0, any_sent=False,
                       now=1.0)  # fmt: skip
    store.slip_changed("enroll-E1", state="printed", reason=None, error_code=None, bytes_sent=812, any_sent=True,
                       now=2.0)  # fmt: skip
    store.slip_changed("drawer-1", state="printed", reason=None, error_code=None, bytes_sent=5, any_sent=True,
                       now=2.0)  # fmt: skip  # not a slip: nothing to record
    store.close()
    reopened = MemberStore(tmp_path / "agent.db")
    again = reopened.slip("E1")
    assert again is not None
    assert (again.state, again.bytes_sent, again.any_sent, again.url) == ("printed", 812, True,
                                                                          "https://example.invalid/activate?x=1")
    assert reopened.enrollment("E1") == enrollment("E1")


def test_an_enrollment_whose_slip_cannot_be_recorded_is_not_recorded_either(tmp_path: Path) -> None:
    store = MemberStore(tmp_path / "agent.db")
    store.add_enrollment(enrollment("E1"), "https://example.invalid/1")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_enrollment(enrollment("E2", print_job_id="enroll-E1"), "https://example.invalid/2")
    assert store.enrollment("E2") is None and store.slip("E2") is None
    store.add_enrollment(enrollment("E2"), "https://example.invalid/2")  # the connection is usable afterwards
    assert store.slip("E2") is not None
