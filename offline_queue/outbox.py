"""The durable outbox: a plain SQLite table in WAL mode with synchronous=FULL.

Guarantees (see also `offline_queue.coalesce` for absolute-valued kinds):

- Durable: `enqueue` returns only after the COMMIT holding the job (group commit lets concurrent
  enqueues share one COMMIT; see `offline_queue.group_commit`).
- Idempotent enqueue: the idempotency key is unique. The same key with the same kind, payload,
  ordering key and business time returns the existing job (a safe resend); the same key with
  different content raises `IdempotencyConflict`. Finished jobs are forgotten after the done
  retention, so resends must happen within it.
- At-least-once: a job is `in_flight` while its handler runs; if the process dies, the dispatcher
  puts it back to pending at start (`requeue_in_flight`) and it is sent again with the same key.
- Ordering: jobs with the same ordering key run one at a time in enqueue order. Each key has at
  most one "head" (in flight, or pending with a next_attempt_at); the others wait with
  next_attempt_at NULL and the next one is promoted when the head finishes (done, dead or
  superseded). A dead head does not block its key forever; a retried dead job re-enters at its
  original place among the jobs still waiting on its key.
- Caps: too many pending jobs (`OutboxFull`) or too big a file (`OutboxTooLarge`) make `enqueue`
  raise before anything is stored; essential kinds (payment reversals) are never refused.
- Fair dispatch: `claim` lets kinds take turns (essential ones first), so a backlog of one kind
  never holds back another.

Thread-safety: every method may be called from any thread. Writes go through one connection
with group commit; reads use a second connection. Subscribers are called after the commit, in
the thread that made the change (asyncio users hop back with `loop.call_soon_threadsafe`).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from offline_queue import coalesce
from offline_queue.crypto import PayloadCipher, load_key_file
from offline_queue.errors import (
    CorruptDatabase,
    IdempotencyConflict,
    OutboxError,
    OutboxFull,
    OutboxTooLarge,
    PayloadUnreadable,
    UnknownJob,
)
from offline_queue.fairness import TakingTurns
from offline_queue.group_commit import GroupCommit
from offline_queue.model import (
    DEFAULT_POLICY,
    Attempt,
    Caps,
    Job,
    JobEvent,
    KindPolicy,
    Outcome,
    State,
    Stats,
)
from offline_queue.payload import REDACTED, canonical_json, open_payload, redacted_payload, seal_payload
from offline_queue.schema import active_count, migrate, recount_active
from offline_queue.transitions import after_outcome

log = logging.getLogger(__name__)

Subscriber = Callable[[JobEvent], None]
Clock = Callable[[], float]

KEY_LOST_REASON = "payload unreadable: key lost"
_MAX_ENDED_PER_CLAIM = 500  # expired jobs ended by one claim; housekeeping ends the rest in batches

_JOB_COLUMNS = (
    "id, kind, idempotency_key, ordering_key, business_time, state, attempts, created_at, "
    "updated_at, next_attempt_at, deadline, last_error, result, payload, sensitive"
)


def mask(secret: str) -> str:
    """Show enough of a key to correlate logs, never the whole value."""
    return secret[:4] + "***" if len(secret) > 8 else "***"


@dataclass(slots=True)
class _Tx:
    """What one write request collects for after its commit."""

    events: list[JobEvent] = field(default_factory=list)


class Outbox:
    """Durable store of must-not-lose jobs. Create with `Outbox.open(path, ...)`."""

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        *,
        cipher: PayloadCipher | None,
        policies: Mapping[str, KindPolicy],
        caps: Caps,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._read_lock = threading.Lock()
        self._cipher = cipher
        self._policies = dict(policies)
        self.caps = caps
        self._clock = clock
        self._rng = rng
        self._subscribers: list[Subscriber] = []
        # File size for the size cap, re-read now and then (see _refresh_size). The pending cap
        # needs no cache: triggers keep the active count in a row (see offline_queue.schema).
        self._db_bytes = 0
        self._page_size = 0
        self._group = GroupCommit(writer, on_begin=self._refresh_size)
        self._turns = TakingTurns()

    # ---- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        key_file: str | os.PathLike[str] | None = None,
        policies: Mapping[str, KindPolicy] | None = None,
        caps: Caps | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        check_integrity: bool = True,
        move_corrupt_aside: bool = True,
    ) -> Self:
        """Open (creating if needed) the outbox at `path`.

        A corrupt database raises `CorruptDatabase`; with `move_corrupt_aside` (the daemon's
        choice) the broken file and its -wal/-shm are first renamed to `<path>.corrupt-<time>`
        and kept, so the next open starts a fresh database. Observers such as the CLI pass
        False and never move anything.
        `key_file` (mode 0600) is needed to enqueue or send jobs with sensitive fields.
        """
        db_path = Path(path)
        cipher = load_key_file(key_file) if key_file is not None else None
        writer = reader = None
        try:
            writer = _connect(db_path)
            if check_integrity:
                _check_integrity(writer)
            migrate(writer)
            reader = _connect(db_path)
        except _Corrupt as exc:
            for conn in (writer, reader):
                if conn is not None:
                    conn.close()
            moved = _move_aside(db_path) if move_corrupt_aside else None
            raise CorruptDatabase(db_path, str(exc), moved) from None
        except sqlite3.DatabaseError as exc:
            for conn in (writer, reader):
                if conn is not None:
                    conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                moved = _move_aside(db_path) if move_corrupt_aside else None
                raise CorruptDatabase(db_path, str(exc), moved) from None
            raise OutboxError(f"cannot open outbox database {db_path}: {exc}") from exc
        return cls(
            db_path,
            writer,
            reader,
            cipher=cipher,
            policies=policies or {},
            caps=caps or Caps(),
            clock=clock,
            rng=rng or random.Random(),
        )

    def close(self) -> None:
        self._writer.close()
        self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def now(self) -> float:
        """The outbox's clock (epoch seconds): due times and deadlines are on it."""
        return self._clock()

    def policy(self, kind: str) -> KindPolicy:
        return self._policies.get(kind, DEFAULT_POLICY)

    # ---- change callbacks ------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(JobEvent)` after every committed state change. Returns an unsubscribe function."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(fn)

        return unsubscribe

    def _publish(self, events: Iterable[JobEvent]) -> None:
        for event in events:
            for fn in list(self._subscribers):
                try:
                    fn(event)
                except Exception:  # a broken subscriber must not break the outbox
                    log.exception("outbox subscriber failed on job %s", event.job_id)

    def _write(self, fn: Callable[[sqlite3.Connection, _Tx], Any]) -> Any:
        tx = _Tx()
        value = self._group.run(lambda conn: fn(conn, tx))
        self._publish(tx.events)
        return value

    # ---- producer side ---------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        idempotency_key: str,
        ordering_key: str | None = None,
        business_time: float | datetime | None = None,
        sensitive: Collection[str] = (),
        deadline: float | datetime | None = None,
    ) -> Job:
        """Store a job durably and return it (or the existing job for a resent key).

        For an absolute kind, `ordering_key` and `business_time` are required; a stale update
        comes back in state `superseded` (recorded, never sent). `sensitive` names top-level
        payload fields to encrypt at rest. `deadline` (epoch or aware datetime) tightens the
        kind's max_age for this job, e.g. when an auth_code was issued before it reached us.
        """
        if not kind or not idempotency_key:
            raise ValueError("kind and idempotency_key must be non-empty")
        policy = self.policy(kind)
        when = _epoch(business_time)
        if policy.absolute and (ordering_key is None or when is None):
            raise ValueError(f"{kind} is absolute-valued: ordering_key and business_time are required")
        unknown = set(sensitive) - set(payload)
        if unknown:
            raise ValueError(f"sensitive fields not in the payload: {sorted(unknown)}")
        try:
            plain = canonical_json(dict(payload))
            stored = (
                seal_payload(dict(payload), sensitive, self._cipher, kind=kind, idempotency_key=idempotency_key)
                if sensitive
                else plain
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload must be JSON-serialisable: {exc}") from None
        fingerprint = self._fingerprint(kind, plain, ordering_key, when, keyed=bool(sensitive))
        job_deadline = _epoch(deadline)
        sealed_fields = canonical_json(sorted(set(sensitive))) if sensitive else "[]"
        # Unordered, non-coalescing jobs (the common case) take a fast path: insert first and let
        # the unique index tell a resend apart, saving a look-up per enqueue.
        simple = ordering_key is None and not policy.absolute

        def insert(conn: sqlite3.Connection, tx: _Tx) -> Job:
            now = self._clock()
            deadline = _earliest(now + policy.max_age if policy.max_age is not None else None, job_deadline)
            state, reason = State.PENDING, None
            superseded: tuple[int, ...] = ()
            due: float | None = now
            if not simple:
                existing = self._existing(conn, idempotency_key, fingerprint)
                if existing is not None:
                    return existing
                self._check_caps(conn, policy)
                if policy.absolute:
                    assert ordering_key is not None and when is not None
                    decision = self._coalesce(conn, kind, ordering_key, when)
                    if decision.stale:
                        state = State.SUPERSEDED
                        reason = f"stale: an update with a newer business time ({decision.watermark}) exists"
                    superseded = decision.supersede
                if state is State.PENDING and ordering_key is not None and self._has_head(conn, ordering_key):
                    due = None  # queue behind the key's head
            cursor = conn.execute(
                "INSERT INTO outbox_jobs (kind, idempotency_key, ordering_key, business_time, payload, "
                "sensitive, fingerprint, state, attempts, created_at, updated_at, next_attempt_at, "
                "deadline, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?) "
                "ON CONFLICT(idempotency_key) DO NOTHING",
                (kind, idempotency_key, ordering_key, when, stored, sealed_fields, fingerprint, state.value,
                 now, now, due if state is State.PENDING else None, deadline, reason),
            )  # fmt: skip
            if simple:
                if cursor.rowcount == 0:
                    existing = self._existing(conn, idempotency_key, fingerprint)
                    assert existing is not None
                    return existing
                self._check_caps(conn, policy, inserted=1)  # over a cap: raising here undoes the insert
            job_id = int(cursor.lastrowid or 0)

            def stored_job(next_attempt_at: float | None) -> Job:
                shown = {name: REDACTED if name in sensitive else value for name, value in payload.items()}
                return Job(
                    id=job_id,
                    kind=kind,
                    idempotency_key=idempotency_key,
                    ordering_key=ordering_key,
                    business_time=when,
                    state=state,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                    next_attempt_at=next_attempt_at,
                    deadline=deadline,
                    last_error=reason,
                    payload=shown,
                    sensitive=tuple(sorted(set(sensitive))),
                )

            if state is State.SUPERSEDED:
                self._history(conn, job_id, now, "stale", reason)
                tx.events.append(JobEvent(job_id, kind, idempotency_key, state, reason))
                return stored_job(None)
            for old_id in superseded:
                self._finish(
                    conn,
                    tx,
                    old_id,
                    state=State.SUPERSEDED,
                    reason=f"coalesced into job {job_id}",
                    now=now,
                    event="superseded",
                )
            if due is None:
                # Superseding the key's head may have just promoted this job.
                self._promote(conn, ordering_key or "", now)
                due = conn.execute("SELECT next_attempt_at FROM outbox_jobs WHERE id = ?", (job_id,)).fetchone()[0]
            tx.events.append(JobEvent(job_id, kind, idempotency_key, State.PENDING))
            return stored_job(due)

        job: Job = self._write(insert)
        return job

    def _coalesce(self, conn: sqlite3.Connection, kind: str, key: str, when: float) -> coalesce.CoalesceDecision:
        row = conn.execute(
            "SELECT business_time FROM outbox_watermarks WHERE kind = ? AND ordering_key = ?", (kind, key)
        ).fetchone()
        pending = conn.execute(
            "SELECT id, business_time FROM outbox_jobs WHERE ordering_key = ? AND kind = ? "
            "AND state = 'pending' AND next_attempt_at IS NULL "
            "UNION ALL SELECT id, business_time FROM outbox_jobs WHERE ordering_key = ? AND kind = ? "
            "AND state IN ('pending', 'in_flight') AND next_attempt_at IS NOT NULL AND state = 'pending'",
            (key, kind, key, kind),
        ).fetchall()
        decision = coalesce.decide(when, row[0] if row else None, pending)
        if not decision.stale:
            conn.execute(
                "INSERT INTO outbox_watermarks(kind, ordering_key, business_time) VALUES (?, ?, ?) "
                "ON CONFLICT(kind, ordering_key) DO UPDATE SET business_time = excluded.business_time",
                (kind, key, decision.watermark),
            )
        return decision

    # ---- consumer side (the dispatcher) ----------------------------------------------------

    def claim(self, limit: int, kinds: Collection[str] | None = None) -> list[Job]:
        """Mark up to `limit` due jobs in flight and return them with decrypted payloads.

        Kinds take turns (see `offline_queue.fairness`): essential kinds first, then the kind
        served least recently, so a backlog of one kind never holds back another. Jobs past their
        deadline die with their kind's expired reason; jobs whose payload cannot be decrypted die
        with "payload unreadable: key lost" (logged as an error). Neither is returned, and both
        free their ordering key for the next job.
        """
        if limit <= 0 or (kinds is not None and not kinds):
            return []

        def take(conn: sqlite3.Connection, tx: _Tx) -> list[Job]:
            now = self._clock()
            claimed: list[Job] = []
            ended = 0
            candidates: dict[str, list[tuple[Any, ...]]] = {}
            while len(claimed) < limit and ended < _MAX_ENDED_PER_CLAIM:
                if not candidates:  # at first, and after a job ended (it may have promoted another)
                    candidates = self._due_by_kind(conn, now, kinds, limit - len(claimed))
                    essential = {kind for kind in candidates if self.policy(kind).essential}
                kind = self._turns.next_kind(candidates, essential)
                if kind is None:
                    break
                row = candidates[kind].pop(0)
                if not candidates[kind]:
                    del candidates[kind]
                job = self._start(conn, tx, row, now)
                if job is None:
                    ended += 1
                    candidates = {}
                    continue
                claimed.append(job)
                self._turns.served(kind)
            return claimed

        jobs: list[Job] = self._write(take)
        return jobs

    def _due_by_kind(
        self, conn: sqlite3.Connection, now: float, kinds: Collection[str] | None, limit: int
    ) -> dict[str, list[tuple[Any, ...]]]:
        """Up to `limit` due jobs of each kind, in order; one indexed look-up per kind."""
        due: dict[str, list[tuple[Any, ...]]] = {}
        for kind in sorted(kinds) if kinds is not None else self._kinds_waiting(conn):
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM outbox_jobs WHERE state = 'pending' AND kind = ? "  # noqa: S608 (fixed columns, ? placeholders)
                "AND next_attempt_at >= 0 AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                (kind, now, limit),
            ).fetchall()
            if rows:
                due[kind] = rows
        return due

    def _kinds_waiting(self, conn: sqlite3.Connection) -> list[str]:
        """Kinds with a pending head, found by skipping through the per-kind index (not a scan)."""
        rows = conn.execute(
            "WITH RECURSIVE k(kind) AS (SELECT min(kind) FROM outbox_jobs WHERE state = 'pending' "
            "AND next_attempt_at IS NOT NULL UNION ALL SELECT (SELECT min(kind) FROM outbox_jobs "
            "WHERE state = 'pending' AND next_attempt_at IS NOT NULL AND kind > k.kind) FROM k "
            "WHERE k.kind IS NOT NULL) SELECT kind FROM k WHERE kind IS NOT NULL"
        ).fetchall()
        return [row[0] for row in rows]

    def _start(self, conn: sqlite3.Connection, tx: _Tx, row: tuple[Any, ...], now: float) -> Job | None:
        """Put one due job in flight, or end it (expired, unreadable) and return None."""
        job_id, kind, key, deadline = row[0], row[1], row[2], row[10]
        if deadline is not None and deadline <= now:
            reason = self.policy(kind).expired_reason
            self._finish(conn, tx, job_id, state=State.DEAD, reason=reason, now=now, event="expired")
            return None
        try:
            payload = open_payload(row[13], self._cipher, kind=kind, idempotency_key=key)
        except PayloadUnreadable as exc:
            log.error("outbox job %s (%s) is unreadable: %s", job_id, kind, exc)
            self._finish(conn, tx, job_id, state=State.DEAD, reason=KEY_LOST_REASON, now=now, event="unreadable")
            return None
        conn.execute(
            "UPDATE outbox_jobs SET state = 'in_flight', attempts = attempts + 1, updated_at = ?, "
            "next_attempt_at = ? WHERE id = ?",
            (now, now, job_id),
        )
        return _row_to_job(row, payload=payload, state=State.IN_FLIGHT, attempts=row[6] + 1, now=now)

    def complete(self, job_id: int, outcome: Outcome) -> State:
        """Record the outcome of a claimed job's attempt. Returns the job's new state."""
        (state,) = self.complete_many([(job_id, outcome)])
        if state is None:
            raise UnknownJob(f"no job {job_id}")
        return state

    def complete_many(self, outcomes: Sequence[tuple[int, Outcome]]) -> builtins.list[State | None]:
        """Record several outcomes in one transaction (the dispatcher batches finished handlers).

        Returns each job's new state, or None for a job that no longer exists (purged meanwhile).
        """

        def record_all(conn: sqlite3.Connection, tx: _Tx) -> builtins.list[State | None]:
            now = self._clock()
            return [self._record(conn, tx, job_id, outcome, now) for job_id, outcome in outcomes]

        states: builtins.list[State | None] = self._write(record_all)
        return states

    def _record(self, conn: sqlite3.Connection, tx: _Tx, job_id: int, outcome: Outcome, now: float) -> State | None:
        row = conn.execute(
            "SELECT kind, idempotency_key, state, attempts, deadline, ordering_key FROM outbox_jobs WHERE id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            log.warning("outbox job %s finished but no longer exists; outcome ignored", job_id)
            return None
        kind, key, state, attempts, deadline, ordering_key = row
        if state != State.IN_FLIGHT:
            # Someone (an operator, a restart) took the job back meanwhile: its new state wins.
            log.warning("outbox job %s finished while %s; outcome ignored", job_id, state)
            return State(state)
        step = after_outcome(
            outcome, attempts=attempts, now=now, deadline=deadline, policy=self.policy(kind), rng=self._rng
        )
        result = None if step.result is None else canonical_json(step.result)
        conn.execute(
            "UPDATE outbox_jobs SET state = ?, updated_at = ?, next_attempt_at = ?, last_error = ?, "
            "result = ? WHERE id = ?",
            (step.state.value, now, step.next_attempt_at, step.last_error, result, job_id),
        )
        self._history(conn, job_id, now, step.event, step.last_error)
        if step.state is not State.PENDING and ordering_key is not None:
            self._promote(conn, ordering_key, now)
        tx.events.append(JobEvent(job_id, kind, key, step.state, step.last_error))
        return step.state

    def requeue_in_flight(self) -> int:
        """Put jobs left in flight by a dead process back to pending (call once, at start).

        Also counts the active jobs afresh, once: the triggers keep the count exact for every
        plain write, but a hand edit with INSERT OR REPLACE deletes without firing them.
        """

        def requeue(conn: sqlite3.Connection, tx: _Tx) -> int:
            now = self._clock()
            recount_active(conn)
            rows = conn.execute(
                "SELECT id, kind, idempotency_key FROM outbox_jobs WHERE state = 'in_flight'"
            ).fetchall()
            for job_id, kind, key in rows:
                conn.execute(
                    "UPDATE outbox_jobs SET state = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    (now, now, job_id),
                )
                self._history(conn, job_id, now, "interrupted", "process stopped during the attempt")
                tx.events.append(JobEvent(job_id, kind, key, State.PENDING, "interrupted"))
            return len(rows)

        count: int = self._write(requeue)
        return count

    def wake(self) -> int:
        """Connectivity is back: make every backing-off head due now. Returns how many."""

        def wake_all(conn: sqlite3.Connection, tx: _Tx) -> int:
            now = self._clock()
            cursor = conn.execute(
                "UPDATE outbox_jobs SET next_attempt_at = ? WHERE state = 'pending' "
                "AND next_attempt_at IS NOT NULL AND next_attempt_at > ?",
                (now, now),
            )
            return cursor.rowcount

        count: int = self._write(wake_all)
        return count

    def next_due_at(self, kinds: Collection[str] | None = None) -> float | None:
        """When the earliest pending head becomes due (None if nothing is scheduled)."""
        sql = "SELECT min(next_attempt_at) FROM outbox_jobs WHERE state = 'pending' AND next_attempt_at >= 0"
        params: tuple[Any, ...] = ()
        if kinds is not None:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params = tuple(kinds)
        row = self._read(sql, params)
        return None if not row or row[0][0] is None else float(row[0][0])

    # ---- housekeeping ----------------------------------------------------------------------

    def expire_overdue(self) -> int:
        """Kill pending jobs whose deadline passed (also those still waiting behind their key)."""

        def expire(conn: sqlite3.Connection, tx: _Tx) -> int:
            now = self._clock()
            rows = conn.execute(
                "SELECT id, kind FROM outbox_jobs WHERE state = 'pending' AND deadline IS NOT NULL "
                "AND deadline <= ? LIMIT 500",
                (now,),
            ).fetchall()
            for job_id, kind in rows:
                self._finish(
                    conn,
                    tx,
                    job_id,
                    state=State.DEAD,
                    reason=self.policy(kind).expired_reason,
                    now=now,
                    event="expired",
                )
            return len(rows)

        count: int = self._write(expire)
        return count

    def purge_done(self, older_than: float, *, batch: int = 500) -> int:
        """Delete one small batch of done/superseded jobs finished more than `older_than` s ago.

        Small batches keep each write transaction short, so enqueues never wait long behind it.
        Returns how many were deleted (call again while it returns `batch`).
        """

        def purge(conn: sqlite3.Connection, tx: _Tx) -> int:
            cutoff = self._clock() - older_than
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM outbox_jobs WHERE state IN ('done', 'superseded') AND updated_at < ? LIMIT ?",
                    (cutoff, batch),
                )
            ]
            self._delete(conn, ids)
            return len(ids)

        count: int = self._write(purge)
        return count

    def purge_dead(self, older_than: float, *, batch: int = 500) -> int:
        """Delete one small batch of jobs dead for more than `older_than` seconds.

        Until then a dead job is kept with its reason, visible and retryable. Dead jobs of
        essential kinds (payment reversals) are kept until a person purges them: each is a trade
        that may still need attention. Returns how many were deleted (call again while it
        returns `batch`).
        """
        keep = sorted(kind for kind, policy in self._policies.items() if policy.essential)
        spare = f" AND kind NOT IN ({', '.join('?' * len(keep))})" if keep else ""

        def purge(conn: sqlite3.Connection, tx: _Tx) -> int:
            cutoff = self._clock() - older_than
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM outbox_jobs WHERE state = 'dead' AND updated_at < ?{spare} LIMIT ?",  # noqa: S608 (fixed SQL, ? placeholders)
                    (cutoff, *keep, batch),
                )
            ]
            self._delete(conn, ids)
            return len(ids)

        count: int = self._write(purge)
        return count

    # ---- visibility ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        """One job; sensitive payload fields are shown as "<sensitive>"."""
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM outbox_jobs WHERE id = ?", (job_id,))  # noqa: S608 (fixed columns, ? placeholders)
        if not rows:
            raise UnknownJob(f"no job {job_id}")
        return _row_to_job(rows[0], payload=redacted_payload(rows[0][13]))

    def list(
        self,
        *,
        state: State | str | None = None,
        kind: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[Job]:
        """Jobs in id order (redacted), filtered by state and kind; page with `after_id`."""
        sql = f"SELECT {_JOB_COLUMNS} FROM outbox_jobs WHERE id > ?"  # noqa: S608 (fixed columns, ? placeholders)
        params: list[Any] = [after_id]
        if state is not None:
            sql += " AND state = ?"
            params.append(State(state).value)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [_row_to_job(row, payload=redacted_payload(row[13])) for row in self._read(sql, params)]

    def history(self, job_id: int) -> builtins.list[Attempt]:
        rows = self._read("SELECT at, event, detail FROM outbox_history WHERE job_id = ? ORDER BY id", (job_id,))
        return [Attempt(at, event, detail) for at, event, detail in rows]

    def stats(self) -> Stats:
        counts: dict[str, dict[str, int]] = {}
        for kind, state, count in self._read("SELECT kind, state, count(*) FROM outbox_jobs GROUP BY kind, state", ()):
            counts.setdefault(kind, {})[state] = count
        now = self._clock()
        oldest_by_kind = self._read(
            "SELECT kind, min(created_at) FROM outbox_jobs WHERE state IN ('pending', 'in_flight') GROUP BY kind", ()
        )
        by_kind = {kind: max(0.0, now - oldest) for kind, oldest in oldest_by_kind}
        return Stats(
            counts=counts,
            oldest_pending_age=max(by_kind.values(), default=None),
            db_bytes=self._file_bytes(),
            oldest_pending_age_by_kind=by_kind,
        )

    # ---- dead letters ----------------------------------------------------------------------

    def retry(self, *, ids: Iterable[int] = (), kind: str | None = None, all: bool = False) -> int:
        """Send dead letters again (selected by id, by kind, or all), with a fresh attempt count.

        A dead absolute update that a newer one has overtaken is superseded instead of resent,
        so a retry can never move a card back to an older state.
        """
        where, params = _selection(ids, kind, all)

        def revive(conn: sqlite3.Connection, tx: _Tx) -> int:
            now = self._clock()
            rows = conn.execute(
                f"SELECT id, kind, idempotency_key, ordering_key, business_time FROM outbox_jobs "  # noqa: S608 (fixed columns, ? placeholders)
                f"WHERE state = 'dead' AND ({where}) ORDER BY id",
                params,
            ).fetchall()
            for job_id, job_kind, key, ordering_key, when in rows:
                policy = self.policy(job_kind)
                if policy.absolute and ordering_key is not None and when is not None:
                    mark = conn.execute(
                        "SELECT business_time FROM outbox_watermarks WHERE kind = ? AND ordering_key = ?",
                        (job_kind, ordering_key),
                    ).fetchone()
                    if mark is not None and when < mark[0]:
                        reason = "stale: a newer update was accepted since this one died"
                        conn.execute(
                            "UPDATE outbox_jobs SET state = 'superseded', updated_at = ?, last_error = ? WHERE id = ?",
                            (now, reason, job_id),
                        )
                        self._history(conn, job_id, now, "retried:stale", reason)
                        tx.events.append(JobEvent(job_id, job_kind, key, State.SUPERSEDED, reason))
                        continue
                deadline = now + policy.max_age if policy.max_age is not None else None
                conn.execute(
                    "UPDATE outbox_jobs SET state = 'pending', attempts = 0, updated_at = ?, "
                    "next_attempt_at = NULL, deadline = ?, last_error = NULL WHERE id = ?",
                    (now, deadline, job_id),
                )
                if ordering_key is None:
                    conn.execute("UPDATE outbox_jobs SET next_attempt_at = ? WHERE id = ?", (now, job_id))
                else:
                    self._promote(conn, ordering_key, now)
                self._history(conn, job_id, now, "retried", None)
                tx.events.append(JobEvent(job_id, job_kind, key, State.PENDING, "retried"))
            return len(rows)

        count: int = self._write(revive)
        return count

    def purge(self, *, ids: Iterable[int] = (), kind: str | None = None, all: bool = False) -> int:
        """Delete dead letters (by id, by kind, or all). Active jobs are never purged."""
        where, params = _selection(ids, kind, all)

        def delete(conn: sqlite3.Connection, tx: _Tx) -> int:
            rows = [
                row[0]
                for row in conn.execute(f"SELECT id FROM outbox_jobs WHERE state = 'dead' AND ({where})", params)  # noqa: S608 (fixed columns, ? placeholders)
            ]
            self._delete(conn, rows)
            return len(rows)

        count: int = self._write(delete)
        return count

    # ---- internals -------------------------------------------------------------------------

    def _has_head(self, conn: sqlite3.Connection, ordering_key: str) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM outbox_jobs WHERE ordering_key = ? AND state IN ('pending', 'in_flight') "
                "AND next_attempt_at >= 0 LIMIT 1",
                (ordering_key,),
            ).fetchone()
            is not None
        )

    def _promote(self, conn: sqlite3.Connection, ordering_key: str, now: float) -> None:
        """If the key has no head, make its earliest waiting job the head, due now."""
        if self._has_head(conn, ordering_key):
            return
        conn.execute(
            "UPDATE outbox_jobs SET next_attempt_at = ? WHERE id = (SELECT id FROM outbox_jobs "
            "WHERE ordering_key = ? AND state = 'pending' AND next_attempt_at IS NULL ORDER BY id LIMIT 1)",
            (now, ordering_key),
        )

    def _finish(
        self,
        conn: sqlite3.Connection,
        tx: _Tx,
        job_id: int,
        *,
        state: State,
        reason: str,
        now: float,
        event: str,
    ) -> None:
        """End an active job without a handler outcome (expired, unreadable, superseded)."""
        row = conn.execute(
            "SELECT kind, idempotency_key, ordering_key FROM outbox_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        conn.execute(
            "UPDATE outbox_jobs SET state = ?, updated_at = ?, next_attempt_at = NULL, last_error = ? WHERE id = ?",
            (state.value, now, reason, job_id),
        )
        self._history(conn, job_id, now, event, reason)
        if row[2] is not None:
            self._promote(conn, row[2], now)
        tx.events.append(JobEvent(job_id, row[0], row[1], state, reason))

    def _history(self, conn: sqlite3.Connection, job_id: int, at: float, event: str, detail: str | None) -> None:
        conn.execute(
            "INSERT INTO outbox_history(job_id, at, event, detail) VALUES (?, ?, ?, ?)", (job_id, at, event, detail)
        )

    def _delete(self, conn: sqlite3.Connection, ids: builtins.list[int]) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            conn.execute(f"DELETE FROM outbox_history WHERE job_id IN ({marks})", chunk)  # noqa: S608 (fixed columns, ? placeholders)
            conn.execute(f"DELETE FROM outbox_jobs WHERE id IN ({marks})", chunk)  # noqa: S608 (fixed columns, ? placeholders)

    def _check_caps(self, conn: sqlite3.Connection, policy: KindPolicy, *, inserted: int = 0) -> None:
        """Raise if the outbox is over a cap (counting before the `inserted` jobs of this request)."""
        if policy.essential:
            return  # a payment reversal is never refused: it must reach Alipay whatever the backlog
        caps = self.caps
        if caps.max_pending is not None:
            active = active_count(conn) - inserted  # one primary-key look-up, whatever the backlog
            if active >= caps.max_pending:
                raise OutboxFull(active, caps.max_pending)
        if caps.max_db_bytes is not None and self._db_bytes >= caps.max_db_bytes:
            raise OutboxTooLarge(self._db_bytes, caps.max_db_bytes)

    def _refresh_size(self, conn: sqlite3.Connection) -> None:
        # The size cap is coarse: re-read the size every 16 transactions, or on each one near the
        # cap (else a refusal, which commits nothing, would never see the room a purge made). It
        # counts the pages in use: pages freed by purges are reused, so they are room under the cap.
        cap = self.caps.max_db_bytes
        if cap is not None and (self._group.transactions % 16 == 0 or self._db_bytes >= cap * 0.9):
            if not self._page_size:
                self._page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0] - free
            self._db_bytes = pages * self._page_size

    def _read(self, sql: str, params: Iterable[Any]) -> builtins.list[Any]:
        with self._read_lock:
            return self._reader.execute(sql, tuple(params)).fetchall()

    def _file_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total

    def _fingerprint(
        self, kind: str, plain_payload: str, ordering_key: str | None, when: float | None, *, keyed: bool
    ) -> str:
        """A hash of the job's content, to tell a resend from a conflicting reuse of its key.

        Keyed (HMAC under a secret derived from the at-rest key) when the payload has sensitive
        fields, so the stored hash of a phone number cannot be brute-forced; such jobs need the
        key anyway.
        """
        content = f"{kind}\x00{ordering_key}\x00{when!r}\x00{plain_payload}".encode()
        if keyed and self._cipher is not None:
            return hmac.new(self._cipher.derive("outbox-fingerprint"), content, hashlib.sha256).hexdigest()
        return hashlib.sha256(content).hexdigest()

    def _existing(self, conn: sqlite3.Connection, idempotency_key: str, fingerprint: str) -> Job | None:
        """The job already stored under this key (a resend), or None; a different content conflicts."""
        row = conn.execute(
            f"SELECT {_JOB_COLUMNS}, fingerprint FROM outbox_jobs WHERE idempotency_key = ?",  # noqa: S608 (fixed columns)
            (idempotency_key,),
        ).fetchone()
        if row is None:
            return None
        if not hmac.compare_digest(row[-1], fingerprint):
            raise IdempotencyConflict(mask(idempotency_key), row[0])
        return _row_to_job(row, payload=redacted_payload(row[13]))


# ---- module helpers -------------------------------------------------------------------------


class _Corrupt(Exception):
    pass


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False: the group
    # committer and the dispatcher's worker threads share the connection under locks.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise sqlite3.OperationalError(f"cannot switch {path} to WAL (got {mode})")
    # FULL, set explicitly: in WAL mode NORMAL may lose the last commits on power loss.
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _check_integrity(conn: sqlite3.Connection) -> None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise _Corrupt(f"integrity_check: {detail}")


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    log.error("corrupt outbox database moved aside to %s (kept for recovery)", target)
    return target


def _epoch(value: float | datetime | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return None if value is None else float(value)
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware datetimes or epoch seconds")
    return value.timestamp()


def _earliest(*times: float | None) -> float | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _selection(ids: Iterable[int], kind: str | None, all_: bool) -> tuple[str, list[Any]]:
    id_list = [int(i) for i in ids]
    if all_:
        return "1", []
    clauses: list[str] = []
    params: list[Any] = []
    if id_list:
        clauses.append(f"id IN ({', '.join('?' * len(id_list))})")
        params.extend(id_list)
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if not clauses:
        raise ValueError("select jobs by ids, kind, or all=True")
    return " OR ".join(clauses), params


def _row_to_job(
    row: tuple[Any, ...],
    *,
    payload: dict[str, Any],
    state: State | None = None,
    attempts: int | None = None,
    now: float | None = None,
) -> Job:
    return Job(
        id=row[0],
        kind=row[1],
        idempotency_key=row[2],
        ordering_key=row[3],
        business_time=row[4],
        state=State(row[5]) if state is None else state,
        attempts=row[6] if attempts is None else attempts,
        created_at=row[7],
        updated_at=row[8] if now is None else now,
        next_attempt_at=row[9] if now is None else now,
        deadline=row[10],
        last_error=row[11],
        result=None if row[12] is None else json.loads(row[12]),
        payload=payload,
        sensitive=tuple(json.loads(row[14] or "[]")),
    )
