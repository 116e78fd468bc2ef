"""The outbox tables and their migrations (sqlite-utils), with a schema version of their own.

The outbox shares the agent's database with other state, so its version lives in its own
`outbox_meta` row rather than in the database-wide `PRAGMA user_version`.

Indexes are partial so that each hot query touches only the rows it is about: the dispatcher's
"what is due" scan never walks through done history, which is what keeps the drain rate flat as
history grows (persist-queue's does not).

sqlite-utils is imported only when a migration runs (see `_sqlite_utils`): most starts have none.
"""

from __future__ import annotations

import sqlite3
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

JOBS = "outbox_jobs"
HISTORY = "outbox_history"
WATERMARKS = "outbox_watermarks"
META = "outbox_meta"
COUNTS = "outbox_counts"


def _v1(db: sqlite_utils.Database) -> None:
    db.table(JOBS).create(
        {
            "id": int,
            "kind": str,
            "idempotency_key": str,
            "ordering_key": str,
            "business_time": float,
            "payload": str,  # JSON; sensitive fields sealed (see offline_queue.payload)
            "sensitive": str,  # JSON list of sealed field names
            "fingerprint": str,  # keyed hash of the content, to tell resends from conflicts
            "state": str,
            "attempts": int,
            "created_at": float,
            "updated_at": float,
            # None while the job waits behind an earlier one with the same ordering key; the
            # "head" of a key is its one active job with a time here (in flight or due/backing off).
            "next_attempt_at": float,
            "deadline": float,
            "last_error": str,
            "result": str,
        },
        pk="id",
        not_null={"kind", "idempotency_key", "payload", "fingerprint", "state", "attempts", "created_at", "updated_at"},
        defaults={"attempts": 0, "sensitive": "[]"},
    )
    db.table(JOBS).create_index(["idempotency_key"], index_name="outbox_jobs_idempotency", unique=True)
    for statement in (
        # what is due: only pending jobs that are heads or unordered
        "CREATE INDEX outbox_jobs_due ON outbox_jobs(next_attempt_at) "
        "WHERE state = 'pending' AND next_attempt_at IS NOT NULL",
        # the head of each ordering key
        "CREATE INDEX outbox_jobs_heads ON outbox_jobs(ordering_key) WHERE ordering_key IS NOT NULL "
        "AND state IN ('pending', 'in_flight') AND next_attempt_at IS NOT NULL",
        # jobs queued behind their key's head, in enqueue order
        "CREATE INDEX outbox_jobs_waiting ON outbox_jobs(ordering_key, id) "
        "WHERE state = 'pending' AND next_attempt_at IS NULL",
        # housekeeping: finished jobs by age
        "CREATE INDEX outbox_jobs_finished ON outbox_jobs(updated_at) WHERE state IN ('done', 'superseded')",
        # deadlines of pending jobs
        "CREATE INDEX outbox_jobs_deadline ON outbox_jobs(deadline) WHERE state = 'pending' AND deadline IS NOT NULL",
    ):
        db.execute(statement)
    db.table(HISTORY).create(
        {"id": int, "job_id": int, "at": float, "event": str, "detail": str},
        pk="id",
        not_null={"job_id", "at", "event"},
    )
    db.table(HISTORY).create_index(["job_id"], index_name="outbox_history_job")
    # Newest business_time accepted per (kind, ordering key) of absolute kinds. Never purged with
    # the jobs, so a late, older update is still recognised as stale after history is gone.
    db.table(WATERMARKS).create(
        {"kind": str, "ordering_key": str, "business_time": float},
        pk=("kind", "ordering_key"),
        not_null={"business_time"},
    )


def _v2(db: sqlite_utils.Database) -> None:
    for statement in (
        # what is due, per kind: the dispatcher takes turns between kinds, so a backlog of one kind
        # must not be walked through to find the first due job of another
        "CREATE INDEX outbox_jobs_due_by_kind ON outbox_jobs(kind, next_attempt_at, id) "
        "WHERE state = 'pending' AND next_attempt_at IS NOT NULL",
        # housekeeping: dead jobs by age (purged after the dead retention)
        "CREATE INDEX outbox_jobs_dead ON outbox_jobs(updated_at) WHERE state = 'dead'",
    ):
        db.execute(statement)


def _v3(db: sqlite_utils.Database) -> None:
    """The active-job count as one row that triggers keep exact, so the cap check is a primary-key
    look-up. Triggers run inside the writer's own transaction, whoever the writer is (this agent, the
    `posagent queue` CLI, a technician's sqlite3 shell), so no cached count can go stale; the one
    COUNT(*) below runs once, here, inside the migration's BEGIN IMMEDIATE."""
    # active = pending (waiting, due or backing off) or in flight: what the pending cap counts
    for statement in (
        "CREATE TABLE outbox_counts (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO outbox_counts(name, value) "
        "SELECT 'active', count(*) FROM outbox_jobs WHERE state IN ('pending', 'in_flight')",
        "CREATE TRIGGER outbox_jobs_count_insert AFTER INSERT ON outbox_jobs "
        "WHEN NEW.state IN ('pending', 'in_flight') "
        "BEGIN UPDATE outbox_counts SET value = value + 1 WHERE name = 'active'; END",
        "CREATE TRIGGER outbox_jobs_count_delete AFTER DELETE ON outbox_jobs "
        "WHEN OLD.state IN ('pending', 'in_flight') "
        "BEGIN UPDATE outbox_counts SET value = value - 1 WHERE name = 'active'; END",
        # pending <-> in_flight changes nothing; only crossing the active/finished line does
        "CREATE TRIGGER outbox_jobs_count_update AFTER UPDATE OF state ON outbox_jobs "
        "WHEN (OLD.state IN ('pending', 'in_flight')) != (NEW.state IN ('pending', 'in_flight')) "
        "BEGIN UPDATE outbox_counts SET value = value "
        "+ (NEW.state IN ('pending', 'in_flight')) - (OLD.state IN ('pending', 'in_flight')) "
        "WHERE name = 'active'; END",
    ):
        db.execute(statement)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (META,)).fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


ACTIVE_COUNT_SQL = "SELECT value FROM outbox_counts WHERE name = 'active'"


def active_count(conn: sqlite3.Connection) -> int:
    """Pending + in-flight jobs, from the trigger-kept counter row: O(1), exact in any transaction."""
    return int(conn.execute(ACTIVE_COUNT_SQL).fetchone()[0])


def recount_active(conn: sqlite3.Connection) -> None:
    """Set the counter from a real count (one scan): inside a write transaction, at start only."""
    conn.execute(
        "UPDATE outbox_counts SET value = (SELECT count(*) FROM outbox_jobs "
        "WHERE state IN ('pending', 'in_flight')) WHERE name = 'active'"
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the outbox tables to SCHEMA_VERSION, one transaction per step. Returns the version."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"outbox schema version {version} is newer than this agent understands ({SCHEMA_VERSION})")
    if version == SCHEMA_VERSION:
        return version
    db = _sqlite_utils().Database(conn)
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(conn)  # another process may have migrated meanwhile
            if version < SCHEMA_VERSION:
                if version == 0:
                    conn.execute("CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT)")
                MIGRATIONS[version](db)
                version += 1
                conn.execute(
                    "INSERT INTO outbox_meta(key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(version),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


def _sqlite_utils() -> types.ModuleType:
    """sqlite-utils, imported without numpy and pandas unless something else already loaded them.

    sqlite-utils imports both whenever they are installed, only to map their scalar types to column
    types; the outbox stores none. OpenCV brings numpy along, so an agent without a camera would carry
    ~18 MiB of numpy for nothing. Hidden while sqlite-utils loads, then put back as they were.
    """
    if "sqlite_utils" in sys.modules:
        return sys.modules["sqlite_utils"]
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import numpy" now raises ImportError
    try:
        import sqlite_utils  # noqa: PLC0415

        return sqlite_utils
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
