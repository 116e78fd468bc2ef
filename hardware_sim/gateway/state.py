"""The gateway's durable state: one SQLite file in the state dir (WAL), or memory without one.

Every call runs as one short transaction under one lock (`Store.transaction`), so handlers see a
consistent state and a crash never leaves half a call applied. Per-call work is a few indexed row
reads and writes: no whole-state dumps on the request path."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_FILE = "gateway.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, image_type TEXT NOT NULL, image_name TEXT NOT NULL,
    size INTEGER NOT NULL, content BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    template_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, request_id TEXT NOT NULL, body TEXT NOT NULL,
    biz_no_prefix TEXT NOT NULL, biz_no_suffix_len INTEGER NOT NULL, next_card_seq INTEGER NOT NULL,
    form TEXT, created REAL NOT NULL, UNIQUE (app_id, request_id));
CREATE TABLE IF NOT EXISTS activation_urls (
    id INTEGER PRIMARY KEY, app_id TEXT NOT NULL, template_id TEXT NOT NULL, callback TEXT NOT NULL,
    out_string TEXT NOT NULL, follow_app_id TEXT NOT NULL, url TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, open_id TEXT NOT NULL UNIQUE, mobile TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS form_submissions (
    request_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, template_id TEXT NOT NULL, user_id TEXT NOT NULL,
    infos TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_codes (
    code TEXT PRIMARY KEY, app_id TEXT NOT NULL, user_id TEXT NOT NULL, expires REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    access_token TEXT PRIMARY KEY, refresh_token TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL,
    user_id TEXT NOT NULL, expires REAL NOT NULL, re_expires REAL NOT NULL,
    refreshed INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS app_auths (
    app_auth_token TEXT PRIMARY KEY, isv_app_id TEXT NOT NULL, auth_app_id TEXT NOT NULL,
    user_id TEXT NOT NULL, apis TEXT NOT NULL, expires REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    biz_card_no TEXT PRIMARY KEY, app_id TEXT NOT NULL, template_id TEXT NOT NULL, user_id TEXT NOT NULL,
    out_serial_no TEXT NOT NULL, external_card_no TEXT NOT NULL, open_date TEXT NOT NULL,
    valid_date TEXT NOT NULL, point TEXT NOT NULL, balance TEXT NOT NULL, level TEXT NOT NULL,
    open_card_channel TEXT NOT NULL, open_card_channel_id TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS cards_by_serial ON cards (app_id, out_serial_no);
CREATE INDEX IF NOT EXISTS cards_by_user ON cards (template_id, user_id, deleted);
CREATE TABLE IF NOT EXISTS card_updates (
    id INTEGER PRIMARY KEY, biz_card_no TEXT NOT NULL, occur_time TEXT NOT NULL, occur_epoch REAL NOT NULL,
    point TEXT, balance TEXT, level TEXT, regression INTEGER NOT NULL, applied REAL NOT NULL);
CREATE INDEX IF NOT EXISTS card_updates_by_card ON card_updates (biz_card_no, occur_epoch);
CREATE TABLE IF NOT EXISTS card_deletes (
    app_id TEXT NOT NULL, out_serial_no TEXT NOT NULL, biz_card_no TEXT NOT NULL,
    biz_serial_no TEXT NOT NULL, reason_code TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (app_id, out_serial_no));
CREATE TABLE IF NOT EXISTS trades (
    app_id TEXT NOT NULL, out_trade_no TEXT NOT NULL, trade_no TEXT NOT NULL UNIQUE,
    order_digest TEXT NOT NULL, code_digest TEXT NOT NULL, code_masked TEXT NOT NULL,
    total_amount TEXT NOT NULL, subject TEXT NOT NULL, buyer_user_id TEXT NOT NULL,
    buyer_logon_id TEXT NOT NULL, status TEXT NOT NULL, confirm_at REAL, gmt_payment TEXT NOT NULL,
    cancel_action TEXT NOT NULL, cancels INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    PRIMARY KEY (app_id, out_trade_no));
"""


class Store:
    """One SQLite connection shared by the server threads, serialised by a lock."""

    def __init__(self, state_dir: Path | None = None) -> None:
        if state_dir is None:
            target = ":memory:"
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            target = str(state_dir / DB_FILE)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if state_dir is not None:
            self.conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL survives a killed simulator (what tests do); only a power cut could lose
            # the last calls, which does not matter for a simulator.
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self.conn

    def close(self) -> None:
        with self.lock:
            self.conn.close()
