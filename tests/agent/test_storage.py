"""is_storage_full: a full disk is recognised wherever it surfaces, and nothing else is mistaken for it."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from agent.storage import is_storage_full, open_database


def real_sqlite_full(tmp_path: Path) -> sqlite3.OperationalError:
    """SQLite's own SQLITE_FULL: a database capped by max_page_count fills up like a full disk."""
    db = open_database(tmp_path / "full.db", "CREATE TABLE IF NOT EXISTS t (x TEXT);")
    db.execute("PRAGMA max_page_count = 8")
    try:
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("the capped database never filled up")


def test_sqlite_full_is_storage_full(tmp_path: Path) -> None:
    error = real_sqlite_full(tmp_path)
    assert "database or disk is full" in str(error)
    assert is_storage_full(error)


def test_enospc_and_quota_are_storage_full() -> None:
    assert is_storage_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_storage_full(OSError(errno.EDQUOT, "Disk quota exceeded"))


def test_a_full_disk_behind_another_error_is_found(tmp_path: Path) -> None:
    try:
        try:
            raise real_sqlite_full(tmp_path)
        except sqlite3.OperationalError as inner:
            raise RuntimeError("enqueue failed") from inner
    except RuntimeError as outer:
        assert is_storage_full(outer)


@pytest.mark.parametrize(
    "error",
    [sqlite3.OperationalError("database is locked"), sqlite3.IntegrityError("UNIQUE constraint failed"),
     OSError(errno.EACCES, "Permission denied"), ValueError("disk"), RuntimeError()],
)  # fmt: skip
def test_other_errors_are_not(error: BaseException) -> None:
    assert not is_storage_full(error)
