"""The agent's one SQLite database, opened the same way by every store that keeps state in it."""

from __future__ import annotations

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
