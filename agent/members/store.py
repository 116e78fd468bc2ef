"""Durable member state: the activation URL cache, enrollments (and their slips), and the member cache
for offline look-ups."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.storage import open_database

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS member_activation_urls (
    template_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS member_enrollments (
    job_id TEXT PRIMARY KEY,
    template_id TEXT NOT NULL,
    out_string TEXT NOT NULL UNIQUE,
    external_card_no TEXT,
    request_hash TEXT NOT NULL,
    print_job_id TEXT NOT NULL,
    card_no TEXT,
    created_at REAL NOT NULL
);
-- Enrollments whose slip carries the template's cached URL (printed offline): their callbacks come
-- without out_string. Each such slip admits one callback (claimed_by), within its validity.
CREATE TABLE IF NOT EXISTS member_offline_slips (
    job_id TEXT PRIMARY KEY,
    printed_at REAL NOT NULL,
    claimed_by TEXT
);
-- One row per callback accepted for an enrollment (a customer may need to scan again after a
-- failure, but a slip cannot mint callbacks without end).
CREATE TABLE IF NOT EXISTS member_callback_claims (
    request_id TEXT PRIMARY KEY,
    enrollment_id TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS member_callback_claims_enrollment ON member_callback_claims(enrollment_id);
-- The activation slip of each enrollment: what it prints and how far printing got, so a resend after
-- a restart answers the slip's state instead of printing a second one. A table of its own, so a
-- database from before it only gains a table.
CREATE TABLE IF NOT EXISTS member_enrollment_slips (
    job_id TEXT PRIMARY KEY REFERENCES member_enrollments(job_id),
    print_job_id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    error_code TEXT,
    bytes_sent INTEGER NOT NULL,
    any_sent INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS member_cache (
    card_no TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


_INSERT_ENROLLMENT = "INSERT INTO member_enrollments VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_SLIP = "INSERT INTO member_enrollment_slips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Enrollment:
    job_id: str
    template_id: str
    out_string: str
    external_card_no: str | None
    request_hash: str
    print_job_id: str
    card_no: str | None
    created_at: float


@dataclass(frozen=True)
class EnrollmentSlip:
    """`state` is the print job's: queued (recorded, no byte sent yet), printing, printed, failed."""

    job_id: str
    print_job_id: str
    url: str
    state: str
    reason: str | None
    error_code: str | None
    bytes_sent: int
    any_sent: bool
    updated_at: float


class MemberStore:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, _SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    # --- activation URLs ------------------------------------------------------------------------

    def activation_url(self, template_id: str) -> tuple[str, float] | None:
        with self._lock:
            row = self._db.execute("SELECT url, fetched_at FROM member_activation_urls WHERE template_id = ?",
                                   (template_id,)).fetchone()  # fmt: skip
        return None if row is None else (str(row[0]), float(row[1]))

    def save_activation_url(self, template_id: str, url: str, now: float) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO member_activation_urls VALUES (?, ?, ?)", (template_id, url, now))

    # --- enrollments ----------------------------------------------------------------------------

    def enrollment(self, job_id: str) -> Enrollment | None:
        return self._one("SELECT * FROM member_enrollments WHERE job_id = ?", job_id)

    def _one(self, sql: str, key: str) -> Enrollment | None:
        with self._lock:
            row = self._db.execute(sql, (key,)).fetchone()
        return None if row is None else Enrollment(*row)

    def add_enrollment(self, enrollment: Enrollment, url: str) -> EnrollmentSlip:
        """The enrollment and its slip (queued), in one transaction, before anything is printed."""
        slip = EnrollmentSlip(enrollment.job_id, enrollment.print_job_id, url, "queued", None, None, 0, False,
                              enrollment.created_at)  # fmt: skip
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(_INSERT_ENROLLMENT, astuple(enrollment))
                self._db.execute(_INSERT_SLIP, astuple(slip))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return slip

    def slip(self, job_id: str) -> EnrollmentSlip | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM member_enrollment_slips WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job_id, print_job_id, url, state, reason, error_code, bytes_sent, any_sent, updated_at = row
        return EnrollmentSlip(job_id, print_job_id, url, state, reason, error_code, bytes_sent, bool(any_sent),
                              updated_at)  # fmt: skip

    def slip_changed(self, print_job_id: str, *, state: str, reason: str | None, error_code: str | None,
                     bytes_sent: int, any_sent: bool, now: float) -> None:  # fmt: skip
        """Record a print job's new state if it is an enrollment slip (other jobs match no row)."""
        with self._lock:
            self._db.execute("UPDATE member_enrollment_slips SET state = ?, reason = ?, error_code = ?, bytes_sent = ?,"
                             " any_sent = ?, updated_at = ? WHERE print_job_id = ?",
                             (state, reason, error_code, bytes_sent, int(any_sent), now, print_job_id))  # fmt: skip

    def enrollment_opened(self, job_id: str, card_no: str) -> None:
        with self._lock:
            self._db.execute("UPDATE member_enrollments SET card_no = ? WHERE job_id = ?", (card_no, job_id))

    # --- callbacks: who may still open a card ---------------------------------------------------

    def claims(self, enrollment_id: str) -> list[str]:
        """The request_ids of the callbacks accepted for this enrollment so far."""
        with self._lock:
            rows = self._db.execute("SELECT request_id FROM member_callback_claims WHERE enrollment_id = ?",
                                    (enrollment_id,)).fetchall()  # fmt: skip
        return [str(row[0]) for row in rows]

    def claim_enrollment(self, enrollment_id: str, request_id: str, now: float, *, max_claims: int) -> bool | None:
        """Record a callback for an enrollment: True if new, False if already recorded (a resend),
        None if refused (the enrollment has had `max_claims` callbacks, or the request is another's)."""

        def claim(db: sqlite3.Connection) -> bool | None:
            row = db.execute("SELECT enrollment_id FROM member_callback_claims WHERE request_id = ?",
                             (request_id,)).fetchone()  # fmt: skip
            if row is not None:
                return False if row[0] == enrollment_id else None
            count = db.execute("SELECT count(*) FROM member_callback_claims WHERE enrollment_id = ?",
                               (enrollment_id,)).fetchone()[0]  # fmt: skip
            if count >= max_claims:
                return None
            db.execute("INSERT INTO member_callback_claims VALUES (?, ?, ?)", (request_id, enrollment_id, now))
            return True

        return self._transaction(claim)

    def add_offline_slip(self, job_id: str, now: float) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO member_offline_slips VALUES (?, ?, NULL)", (job_id, now))

    def offline_slip_for(self, request_id: str, printed_since: float) -> str | None:
        """The offline slip this callback already used, else one still unused (None: neither)."""
        with self._lock:
            row = self._db.execute(
                "SELECT job_id FROM member_offline_slips WHERE claimed_by = ? UNION ALL "
                "SELECT job_id FROM (SELECT job_id FROM member_offline_slips WHERE claimed_by IS NULL "
                "AND printed_at >= ? ORDER BY printed_at LIMIT 1)", (request_id, printed_since)).fetchone()  # fmt: skip
        return None if row is None else str(row[0])

    def claim_offline_slip(self, request_id: str, printed_since: float) -> bool | None:
        """Use the oldest unused offline slip for this callback: True if new, False if this callback
        already used one (a resend), None if no slip is left."""

        def claim(db: sqlite3.Connection) -> bool | None:
            if db.execute("SELECT 1 FROM member_offline_slips WHERE claimed_by = ?", (request_id,)).fetchone():
                return False
            cursor = db.execute(
                "UPDATE member_offline_slips SET claimed_by = ? WHERE job_id = (SELECT job_id FROM "
                "member_offline_slips WHERE claimed_by IS NULL AND printed_at >= ? ORDER BY printed_at LIMIT 1)",
                (request_id, printed_since))  # fmt: skip
            return True if cursor.rowcount == 1 else None

        return self._transaction(claim)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Check and write atomically (BEGIN IMMEDIATE: no other writer in between)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                value = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return value

    def release_claim(self, request_id: str) -> None:
        """Forget a callback that could not be queued (the outbox refused it): its slip may be used again."""
        with self._lock:
            self._db.execute("DELETE FROM member_callback_claims WHERE request_id = ?", (request_id,))
            self._db.execute("UPDATE member_offline_slips SET claimed_by = NULL WHERE claimed_by = ?", (request_id,))

    # --- member cache ---------------------------------------------------------------------------

    def cached_member(self, card_no: str) -> tuple[dict[str, Any], float] | None:
        with self._lock:
            row = self._db.execute("SELECT info, updated_at FROM member_cache WHERE card_no = ?",
                                   (card_no,)).fetchone()  # fmt: skip
        return None if row is None else (json.loads(row[0]), float(row[1]))

    def cache_member(self, card_no: str, info: dict[str, Any], now: float) -> None:
        """Merge what is known about a card (never personal data: card values only)."""
        current = self.cached_member(card_no)
        merged = {**(current[0] if current else {}), **{k: v for k, v in info.items() if v is not None}}
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO member_cache VALUES (?, ?, ?)",
                             (card_no, json.dumps(merged, ensure_ascii=False), now))  # fmt: skip
