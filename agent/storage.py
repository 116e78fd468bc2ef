"""The agent's one SQLite database, opened the same way by every store that keeps state in it."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

DATABASE_FILENAME = "agent.db"


def database_path(state_dir: Path) -> Path:
    """Where the daemon keeps its database (the doctor and the support bundle look there too)."""
    return state_dir / DATABASE_FILENAME


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """WAL with synchronous=FULL (durable across power loss; NORMAL is not), autocommit, schema applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(schema)
    return db


# What a full disk looks like from SQLite and from plain file writes.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_storage_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, means "no space left" (SQLITE_FULL, ENOSPC)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.OperationalError) and (
            # An extended result code keeps the primary code in its low byte.
            getattr(current, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(current)
        ):
            return True
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False
