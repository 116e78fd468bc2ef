"""Jobs read back from an outbox database that failed its integrity check and was moved aside.

`Outbox.open` moves a corrupt file to `<name>.corrupt-<time>` (with its -wal) and starts afresh, so
the jobs still pending in it stop being sent. A corrupt file usually still reads: the check fails on
one damaged page (often an index) while the job table is intact. `read_jobs` reads what it can from a
copy (the evidence is never written, not even by SQLite's WAL recovery), row by row around damage;
`recover` puts the jobs still to be sent into the live outbox with their own idempotency keys, so a
job the live outbox already holds (a resend by the till) is not doubled, and Alipay dedups the rest.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from offline_queue.crypto import PayloadCipher
from offline_queue.errors import IdempotencyConflict, OutboxFull, OutboxTooLarge, PayloadUnreadable
from offline_queue.outbox import Outbox
from offline_queue.payload import open_payload

MOVED_MARK = ".corrupt-"
RECOVERED_SUFFIX = ".recovered"
TO_SEND = ("pending", "in_flight")  # in flight when it broke: sent again, as after any crash
_COLUMNS = "id, kind, idempotency_key, ordering_key, business_time, state, deadline, payload, sensitive"
_BATCH = 500
_MAX_PROBES = 1_000_000  # ids tried one by one past a damaged range, at most


def moved_aside(database: Path) -> list[Path]:
    """The corrupt files the outbox moved aside next to `database` and nobody recovered yet, oldest first."""
    found = [p for p in database.parent.glob(f"{database.name}{MOVED_MARK}*")
             if not p.name.endswith(("-wal", "-shm", "-journal")) and RECOVERED_SUFFIX not in p.name]  # fmt: skip
    return sorted(found)


@dataclass(frozen=True)
class SalvagedJob:
    id: int
    kind: str
    idempotency_key: str
    ordering_key: str | None
    business_time: float | None
    state: str
    deadline: float | None
    stored_payload: str  # as stored: sensitive fields still sealed
    sensitive: tuple[str, ...]


@dataclass
class Salvage:
    path: Path
    jobs: list[SalvagedJob] = field(default_factory=list)
    unreadable_rows: int = 0  # ids in a damaged range that could not be read
    error: str | None = None  # nothing could be read at all
    with_wal: bool = True  # False: read without its -wal (the newest commits may be missing)

    def count(self, states: Collection[str]) -> int:
        return sum(job.state in states for job in self.jobs)

    def by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        return counts


@contextlib.contextmanager
def _readable_copy(path: Path) -> Iterator[tuple[sqlite3.Connection, bool]]:
    """A connection to a copy of the file and its -wal; if no copy can be made, to the file as it is
    (immutable: SQLite writes nothing, and ignores the -wal)."""
    with tempfile.TemporaryDirectory(prefix="posagent-salvage-") as scratch:
        copy = Path(scratch) / "salvage.db"
        try:
            shutil.copyfile(path, copy)
            wal = Path(f"{path}-wal")
            if wal.exists():
                shutil.copyfile(wal, Path(f"{copy}-wal"))
        except OSError:
            conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
            with_wal = not Path(f"{path}-wal").exists()
        else:
            conn = sqlite3.connect(copy)
            with_wal = True
        try:
            yield conn, with_wal
        finally:
            conn.close()


def _row(row: tuple[object, ...]) -> SalvagedJob:
    sensitive = json.loads(str(row[8] or "[]"))
    return SalvagedJob(
        id=int(row[0]),  # type: ignore[call-overload]
        kind=str(row[1]),
        idempotency_key=str(row[2]),
        ordering_key=None if row[3] is None else str(row[3]),
        business_time=None if row[4] is None else float(row[4]),  # type: ignore[arg-type]
        state=str(row[5]),
        deadline=None if row[6] is None else float(row[6]),  # type: ignore[arg-type]
        stored_payload=str(row[7]),
        sensitive=tuple(str(name) for name in sensitive),
    )


def read_jobs(path: Path) -> Salvage:
    """Every job row that can still be read from a moved-aside database (never raises for a bad file)."""
    salvage = Salvage(path)
    try:
        with _readable_copy(path) as (conn, with_wal):
            salvage.with_wal = with_wal
            _scan(conn, salvage)
    except (sqlite3.Error, OSError, ValueError) as exc:
        salvage.error = str(exc)
    return salvage


def _scan(conn: sqlite3.Connection, salvage: Salvage) -> None:
    last = 0
    while True:
        try:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM outbox_jobs WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608 (fixed columns)
                                (last, _BATCH)).fetchall()  # fmt: skip
        except sqlite3.DatabaseError as exc:
            if not salvage.jobs and last == 0 and "no such table" in str(exc):
                raise
            last = _probe_past_damage(conn, salvage, last)
            if last < 0:
                return
            continue
        for row in rows:
            try:
                salvage.jobs.append(_row(row))
            except (TypeError, ValueError):
                salvage.unreadable_rows += 1
        if len(rows) < _BATCH:
            return
        last = int(rows[-1][0])


def _probe_past_damage(conn: sqlite3.Connection, salvage: Salvage, last: int) -> int:
    """Read ids one by one after `last` until a batch reads again; -1 when nothing more can be read."""
    try:
        highest = int(conn.execute("SELECT max(id) FROM outbox_jobs").fetchone()[0] or 0)
    except sqlite3.DatabaseError:
        highest = last + _MAX_PROBES
    for job_id in range(last + 1, min(highest, last + _MAX_PROBES) + 1):
        try:
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox_jobs WHERE id = ?", (job_id,)).fetchone()  # noqa: S608
        except sqlite3.DatabaseError:
            salvage.unreadable_rows += 1
            continue
        if row is not None:
            salvage.jobs.append(_row(row))
            return job_id
    return -1


@dataclass
class Recovery:
    imported: list[int] = field(default_factory=list)  # new live job ids
    already_there: int = 0  # the live outbox holds the same job (same key, same content)
    conflicts: int = 0  # same key, other content in the live outbox: left alone
    unreadable: int = 0  # payload cannot be opened with this key
    refused: str | None = None  # the live outbox refused more work (cap): the rest is still in the file

    @property
    def complete(self) -> bool:
        return not (self.conflicts or self.unreadable or self.refused)


def recover(salvage: Salvage, outbox: Outbox, cipher: PayloadCipher | None,
            states: Collection[str] = TO_SEND) -> Recovery:  # fmt: skip
    """Enqueue the salvaged jobs in `states` into the live outbox, in their original order."""
    result = Recovery()
    with contextlib.closing(sqlite3.connect(outbox.path, timeout=30.0)) as live:
        for job in sorted(salvage.jobs, key=lambda j: j.id):
            if job.state not in states:
                continue
            try:
                payload = open_payload(job.stored_payload, cipher, kind=job.kind, idempotency_key=job.idempotency_key)
            except (PayloadUnreadable, ValueError):
                result.unreadable += 1
                continue
            before = _existing_id(live, job.idempotency_key)
            try:
                new = outbox.enqueue(job.kind, payload, idempotency_key=job.idempotency_key,
                                     ordering_key=job.ordering_key, business_time=job.business_time,
                                     sensitive=job.sensitive, deadline=job.deadline)  # fmt: skip
            except IdempotencyConflict:
                result.conflicts += 1
                continue
            except (OutboxFull, OutboxTooLarge) as exc:
                result.refused = str(exc)
                break
            if before is None:
                result.imported.append(new.id)
            else:
                result.already_there += 1
    return result


def _existing_id(conn: sqlite3.Connection, idempotency_key: str) -> int | None:
    row = conn.execute("SELECT id FROM outbox_jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
    return None if row is None else int(row[0])


def mark_recovered(path: Path, stamp: str) -> Path:
    """Rename the file (and its -wal, -shm) so the doctor stops reporting it; it is kept."""
    target = path.with_name(f"{path.name}{RECOVERED_SUFFIX}-{stamp}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(Path(f"{target}{suffix}"))
    return target
