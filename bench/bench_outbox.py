"""Outbox benchmark: prints, in one run, the figures the outbox is held to (targets side by side).

    .venv/bin/python bench/bench_outbox.py [--quick] [--dir DIR] [--slow-fsync MICROSECONDS]

1. durable single enqueue (Outbox.enqueue, one thread) next to a bare SQLite insert of the same
   payload, one transaction each, WAL + synchronous=FULL (target >= 0.8x); rounds are interleaved
   so disk noise hits both alike. Measured on an empty outbox and again with a 20,000-job backlog
   (the bare table then holds 20,000 rows too): the ratio must hold at both. For reference, the
   same bare insert into a table with the two indexes an outbox needs (unique idempotency key, due
   time): each adds a page to every commit. Then the pending-cap check at 0 and at 20,000 jobs,
   timed as an enqueue refused by the cap (no commit, no fsync) right after another connection
   committed to another table, as the agent's other stores do (target: flat, <= 1.5x);
2. concurrent enqueue from many threads with group commit (target >= 10x the single rate), and
   for reference the same with synchronous=OFF: the CPU ceiling of that ratio on this machine;
3. dequeue + done through the Dispatcher (no-op handler) at a 1,000 and a 20,000 backlog
   (target: the 20,000 figure >= 0.8x the 1,000 figure);
4. the same drain through persist-queue's SQLiteAckQueue (get + ack), the library the outbox
   replaced (target: the outbox >= 10x its drain rate at 20,000). persist-queue slows down as
   acked rows pile up, so its 20,000 drain is measured over a time budget, not to the end.

Absolute numbers depend on the disk's fsync latency; the ratios are what the targets are about.
The group-commit gain is bounded by CPU (the GIL) once fsync is cheap: with a ~0.3 ms fsync it
is a few x, with a store PC's 2-10 ms fsync it is well over 10x. Best-of-N figures are printed
for the throughput runs because a shared machine's noise only ever slows a run down.
`--slow-fsync 5000` builds ../shared/tools/slowfsync.c and runs again under it (LD_PRELOAD): every
fsync first sleeps that long, like a store PC's eMMC or laptop disk; durability is unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from offline_queue import Caps, Dispatcher, Done, Job, Outbox, OutboxFull, Outcome

PAYLOAD = {"card_no": "C000123", "points": 120, "balance": "35.00", "occur_time": "2026-11-25 20:00:00"}


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


# ---- 1. single enqueue vs a bare insert ------------------------------------------------------------


def bare_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(fresh(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT, idempotency_key TEXT, payload TEXT, "
        "state TEXT, created_at REAL)"
    )
    return conn


def indexed_connection(path: Path) -> sqlite3.Connection:
    """The bare table plus the two indexes an outbox insert cannot do without (unique key, due
    time): not the target's baseline, a reference for what those extra pages cost per commit."""
    conn = bare_connection(path)
    conn.execute("CREATE UNIQUE INDEX jobs_key ON jobs(idempotency_key)")
    conn.execute("CREATE INDEX jobs_due ON jobs(created_at) WHERE state = 'pending'")
    return conn


class OtherStore:
    """Another connection committing to another table of the same database before each timed
    insert, as the agent's other stores do (its commits are not timed)."""

    def __init__(self, path: Path | None) -> None:
        self.conn = None if path is None else sqlite3.connect(path, isolation_level=None)
        if self.conn is not None:
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS sales (id INTEGER PRIMARY KEY, at REAL)")

    def write(self) -> None:
        if self.conn is not None:
            self.conn.execute("INSERT INTO sales (at) VALUES (?)", (time.time(),))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def bare_inserts(
    conn: sqlite3.Connection, text: str, prefix: str, count: int, other: OtherStore | None = None
) -> float:
    elapsed = 0.0
    for n in range(count):
        if other is not None:
            other.write()
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO jobs (kind, idempotency_key, payload, state, created_at) VALUES (?, ?, ?, ?, ?)",
            ("card.update.raw", f"{prefix}-{n}", text, "pending", time.time()),
        )
        conn.execute("COMMIT")
        elapsed += time.perf_counter() - start
    return elapsed


def fill_outbox(box: Outbox, backlog: int) -> None:
    """`backlog` pending jobs, written fast (no fsync), then back to FULL with an empty WAL."""
    box._writer.execute("PRAGMA synchronous = OFF")
    for n in range(backlog):
        box.enqueue("card.update.raw", PAYLOAD, idempotency_key=f"backlog-{n}")
    box._writer.execute("PRAGMA synchronous = FULL")
    box._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def fill_bare(conn: sqlite3.Connection, text: str, backlog: int) -> None:
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (kind, idempotency_key, payload, state, created_at) VALUES (?, ?, ?, ?, ?)",
        (("card.update.raw", f"backlog-{n}", text, "pending", time.time()) for n in range(backlog)),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def single_vs_bare(
    work: Path, rounds: int, per_round: int, backlog: int = 0, other_writer: bool = False
) -> tuple[float, float, float]:
    """(outbox, bare, bare + two indexes) rates, one transaction per row, rounds interleaved,
    each store first filled with `backlog` rows; with `other_writer`, another connection commits
    to each database before each timed insert. The outbox checks its default caps as in service."""
    import json

    box = Outbox.open(fresh(work / "single.db"))
    bare = bare_connection(work / "bare.db")
    indexed = indexed_connection(work / "indexed.db")
    text = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"))  # the bytes the outbox stores
    if backlog:
        fill_outbox(box, backlog)
        fill_bare(bare, text, backlog)
        fill_bare(indexed, text, backlog)
    others = [OtherStore(work / name if other_writer else None) for name in ("single.db", "bare.db", "indexed.db")]
    ours = theirs = reference = 0.0
    for r in range(rounds):
        for n in range(per_round):
            others[0].write()
            start = time.perf_counter()
            box.enqueue("card.update.raw", PAYLOAD, idempotency_key=f"s-{r}-{n}")
            ours += time.perf_counter() - start
        theirs += bare_inserts(bare, text, f"s-{r}", per_round, others[1])
        reference += bare_inserts(indexed, text, f"s-{r}", per_round, others[2])
    for other in others:
        other.close()
    box.close()
    bare.close()
    indexed.close()
    total = rounds * per_round
    return total / ours, total / theirs, total / reference


def cap_check_time(work: Path, backlog: int, samples: int) -> float:
    """Median seconds of an enqueue refused by the pending cap at `backlog` active jobs, each
    right after another connection committed to another table of the same database."""
    box = Outbox.open(fresh(work / f"cap-{backlog}.db"), caps=Caps(max_pending=None, max_db_bytes=None))
    fill_outbox(box, backlog)
    box.caps = Caps(max_pending=backlog, max_db_bytes=None)
    other = sqlite3.connect(box.path, isolation_level=None)
    other.execute("CREATE TABLE IF NOT EXISTS sales (id INTEGER PRIMARY KEY, at REAL)")
    times = []
    for n in range(samples):
        other.execute("INSERT INTO sales (at) VALUES (?)", (time.time(),))
        start = time.perf_counter()
        try:
            box.enqueue("card.update.raw", PAYLOAD, idempotency_key=f"refused-{n}")
        except OutboxFull:
            times.append(time.perf_counter() - start)
        else:
            raise AssertionError("the cap let a job in")
    other.close()
    box.close()
    return statistics.median(times)


# ---- 2. concurrent enqueue (group commit) --------------------------------------------------------


def concurrent_enqueue(box: Outbox, threads: int, per_thread: int, prefix: str) -> tuple[float, float]:
    """Returns (enqueues per second, enqueues per commit)."""
    barrier = threading.Barrier(threads + 1)

    def producer(worker: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            box.enqueue("card.update.raw", PAYLOAD, idempotency_key=f"{prefix}-{worker}-{n}")

    pool = [threading.Thread(target=producer, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    commits_before = box._group.transactions
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    total = threads * per_thread
    return total / elapsed, total / max(1, box._group.transactions - commits_before)


# ---- 3. drain through the dispatcher --------------------------------------------------------------


def drain_rate(work: Path, backlog: int, name: str) -> float:
    box = Outbox.open(fresh(work / f"{name}.db"))
    concurrent_enqueue(box, threads=16, per_thread=backlog // 16, prefix=name)  # fill fast

    async def handler(job: Job) -> Outcome:
        return Done()

    dispatcher = Dispatcher(box, {"card.update.raw": handler}, concurrency=64)
    start = time.perf_counter()
    asyncio.run(dispatcher.run_until_idle())
    elapsed = time.perf_counter() - start
    assert box.stats().backlog == 0, "drain left jobs behind"
    box.close()
    return dispatcher.sent / elapsed


# ---- 4. persist-queue ------------------------------------------------------------------------------


def persist_queue_drain(work: Path, backlog: int, budget: float) -> tuple[float, int]:
    """get + ack through SQLiteAckQueue; returns (rate, how many were drained within the budget)."""
    import persistqueue

    folder = work / f"pq-{backlog}"
    shutil.rmtree(folder, ignore_errors=True)
    queue = persistqueue.SQLiteAckQueue(str(folder), auto_commit=True, multithreading=True)
    for n in range(backlog):
        queue.put({**PAYLOAD, "n": n})
    drained = 0
    start = time.perf_counter()
    while drained < backlog and time.perf_counter() - start < budget:
        item = queue.get(block=False)
        queue.ack(item)
        drained += 1
    return drained / (time.perf_counter() - start), drained


# ---- report -----------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "ok" if value >= target else "MISSED"


def fsync_note() -> str:
    if "slowfsync" in os.environ.get("LD_PRELOAD", ""):
        return f"slowfsync shim: every fsync sleeps {os.environ.get('FSYNC_DELAY_US', '5000')} us first"
    return "this machine's own fsync (a store PC's is slower: try --slow-fsync 5000)"


def rerun_with_slow_fsync(delay_us: int, argv: list[str]) -> int:
    source = Path(__file__).resolve().parents[1] / ".." / "shared" / "tools" / "slowfsync.c"
    if not source.exists():
        print(f"--slow-fsync needs {source}", file=sys.stderr)
        return 2
    library = Path(tempfile.mkdtemp(prefix="slowfsync-")) / "slowfsync.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"], check=True)
    env = {**os.environ, "LD_PRELOAD": str(library), "FSYNC_DELAY_US": str(delay_us)}
    rest = [arg for n, arg in enumerate(argv) if arg != "--slow-fsync" and (n == 0 or argv[n - 1] != "--slow-fsync")]
    return subprocess.run([sys.executable, __file__, *rest], env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, figures are noisier)")
    parser.add_argument("--dir", type=Path, help="where to put the databases (default: a temp dir on /tmp)")
    parser.add_argument("--slow-fsync", type=int, metavar="US", help="run under the slowfsync shim (see above)")
    parser.add_argument("--only-enqueue", action="store_true", help="only the single-enqueue and cap-check figures")
    args = parser.parse_args(argv)
    if args.slow_fsync is not None:
        return rerun_with_slow_fsync(args.slow_fsync, sys.argv[1:] if argv is None else argv)
    big = 5_000 if args.quick else 20_000
    small = 1_000
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"outbox bench in {work} (sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]})")
    print(f"fsync: {fsync_note()}\n")

    per_round = 100 if args.quick else 250
    empty_rate = 0.0
    for backlog, other_writer in ((0, False), (20_000, False), (20_000, True)):
        single, bare, indexed = single_vs_bare(work, 8, per_round, backlog=backlog, other_writer=other_writer)
        empty_rate = empty_rate or single
        at = f"at {backlog:,} jobs" if backlog else "empty outbox"
        if other_writer:
            print("with another store of the agent committing to the same database before each insert:")
        print(f"durable single enqueue, {at:<13} {single:7.0f} /s" + (
            f"   {single / empty_rate:5.2f}x the empty figure" if backlog else ""))  # fmt: skip
        print(f"bare SQLite FULL insert, same rows   {bare:7.0f} /s   ratio {single / bare:5.2f}x  (target >= 0.8x) "
              f"{verdict(single / bare, 0.8)}")  # fmt: skip
        print(f"  reference: bare + 2 indexes        {indexed:7.0f} /s   {indexed / bare:5.2f}x bare (what the "
              "unique-key and due-index pages cost per commit)")  # fmt: skip
    cap_empty = cap_check_time(work, 0, samples=100)
    cap_full = cap_check_time(work, 20_000, samples=100)
    print(f"cap check after another writer, at      0 jobs {cap_empty * 1e6:7.0f} us (an enqueue refused by the cap)")
    print(f"cap check after another writer, at 20,000 jobs {cap_full * 1e6:7.0f} us   {cap_full / cap_empty:5.2f}x "
          f"the empty figure (target <= 1.5x: flat) {'ok' if cap_full / cap_empty <= 1.5 else 'MISSED'}")  # fmt: skip
    if args.only_enqueue:
        return 0

    rate, per_commit = 0.0, 0.0
    for attempt in range(3):  # best of 3: the machine is shared, noise only ever slows a run down
        box = Outbox.open(fresh(work / "concurrent.db"))
        measured = concurrent_enqueue(box, threads=32, per_thread=100 if args.quick else 250, prefix=f"c{attempt}")
        box.close()
        rate, per_commit = max((rate, per_commit), measured)
    print(f"concurrent enqueue (32 thr.)  {rate:9.0f} /s   {rate / single:5.1f}x single, {per_commit:.1f} per commit "
          f"(target >= 10x) {verdict(rate / single, 10)}")  # fmt: skip
    # The same run with no fsync at all: what the CPU (one GIL, this many cores) allows, whatever
    # the commit policy. If this is under 10x the single rate, the 10x target is out of reach here.
    box = Outbox.open(fresh(work / "cpu-bound.db"))
    box._writer.execute("PRAGMA synchronous = OFF")
    ceiling, _ = concurrent_enqueue(box, threads=32, per_thread=100 if args.quick else 250, prefix="cpu")
    box.close()
    print(f"  reference: same, no fsync   {ceiling:9.0f} /s   {ceiling / single:5.1f}x single (CPU ceiling of the "
          "ratio above)")  # fmt: skip

    drain_small = max(drain_rate(work, small, "drain-small") for _ in range(3))
    drain_big = max(drain_rate(work, big, "drain-big") for _ in range(2))
    print(f"dequeue+done at {small:>6,}      {drain_small:9.0f} /s")
    print(f"dequeue+done at {big:>6,}      {drain_big:9.0f} /s   {drain_big / drain_small:5.2f}x the {small:,} figure "
          f"(target >= 0.8x) {verdict(drain_big / drain_small, 0.8)}")  # fmt: skip

    pq_small, _ = persist_queue_drain(work, small, budget=30)
    pq_big, pq_drained = persist_queue_drain(work, big, budget=10 if args.quick else 25)
    print(f"persist-queue get+ack {small:>6,} {pq_small:9.0f} /s")
    print(f"persist-queue get+ack {big:>6,} {pq_big:9.0f} /s   ({pq_drained:,} drained in the time budget)")
    print(f"outbox vs persist-queue at {big:,}: {drain_big / pq_big:5.1f}x (target >= 10x) "
          f"{verdict(drain_big / pq_big, 10)}")  # fmt: skip
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
