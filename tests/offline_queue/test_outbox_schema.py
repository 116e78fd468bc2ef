"""Schema and migrations: versioned in the outbox's own meta row, applied once, never downgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from offline_queue import Done, Outbox
from offline_queue.schema import SCHEMA_VERSION, active_count, current_version, migrate


def test_a_new_database_gets_the_current_schema_version(tmp_path: Path) -> None:
    Outbox.open(tmp_path / "a.db").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert current_version(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0  # left to the rest of the agent


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    assert migrate(conn) == SCHEMA_VERSION
    tables = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == tables


def test_the_outbox_shares_a_database_with_other_tables(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with Outbox.open(tmp_path / "a.db") as box:
        box.enqueue("k", {}, idempotency_key="1")
    assert sqlite3.connect(tmp_path / "a.db").execute("SELECT count(*) FROM sales").fetchone() == (0,)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    migrate(conn)
    conn.execute("UPDATE outbox_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(RuntimeError, match="newer than this agent understands"):
        migrate(conn)


def test_a_database_from_before_the_active_counter_gets_it_counted_once_at_open(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with Outbox.open(path) as box:
        for n in range(5):
            box.enqueue("k", {"n": n}, idempotency_key=str(n))
        box.claim(2)
        (job,) = box.claim(1)
        box.complete(job.id, Done())
    # what a version-2 database looks like: the same tables, no counter, no triggers
    conn = sqlite3.connect(path, isolation_level=None)
    for trigger in ("insert", "delete", "update"):
        conn.execute(f"DROP TRIGGER outbox_jobs_count_{trigger}")
    conn.execute("DROP TABLE outbox_counts")
    conn.execute("UPDATE outbox_meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with Outbox.open(path) as box:
        assert active_count(box._writer) == 4  # 2 in flight + 2 pending; the done one is not counted
        box.enqueue("k", {"n": 9}, idempotency_key="9")
        assert active_count(box._writer) == 5
    assert current_version(sqlite3.connect(path)) == SCHEMA_VERSION
