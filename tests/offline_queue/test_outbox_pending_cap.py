"""The pending cap: an exact count of active jobs, kept by triggers, read with one look-up.

Whoever writes the database (this agent, another process such as `posagent queue`, a sqlite3
shell), the count of pending + in-flight jobs stays exact, and checking the cap never walks
through the jobs table, however big the backlog or the history.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from offline_queue import Caps, Dead, Done, KindPolicy, Outbox, OutboxFull, RetryLater, State
from offline_queue.schema import ACTIVE_COUNT_SQL, active_count
from tests.offline_queue.helpers import FakeClock

PROJECT = Path(__file__).resolve().parents[2]  # where `offline_queue` imports from

POLICIES = {
    "card.update": KindPolicy(absolute=True),
    "card.open": KindPolicy(max_age=300.0),
    "trade.cancel": KindPolicy(essential=True),
}


def counted(box: Outbox) -> tuple[int, int]:
    """(the counter row, a real COUNT(*)): the two must always agree."""
    conn = sqlite3.connect(box.path)
    try:
        real = conn.execute("SELECT count(*) FROM outbox_jobs WHERE state IN ('pending', 'in_flight')").fetchone()[0]
        return active_count(conn), real
    finally:
        conn.close()


def assert_exact(box: Outbox, expected: int) -> None:
    assert counted(box) == (expected, expected)


def test_the_active_count_stays_exact_through_every_change_of_state(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", policies=POLICIES, clock=clock) as box:
        plain = [box.enqueue("points.add", {"n": n}, idempotency_key=f"p{n}").id for n in range(4)]
        box.enqueue("points.add", {"n": 0}, idempotency_key="p0")  # a resend stores nothing
        box.enqueue("points.add", {"n": 9}, idempotency_key="o1", ordering_key="C1")
        box.enqueue("points.add", {"n": 9}, idempotency_key="o2", ordering_key="C1")  # waits behind o1
        assert_exact(box, 6)
        box.enqueue("card.update", {"v": 1}, idempotency_key="u1", ordering_key="K", business_time=1.0)
        box.enqueue("card.update", {"v": 2}, idempotency_key="u2", ordering_key="K", business_time=2.0)
        box.enqueue("card.update", {"v": 0}, idempotency_key="u0", ordering_key="K", business_time=0.5)  # stale
        assert_exact(box, 7)  # u2 superseded u1, the stale u0 was recorded as superseded
        box.enqueue("card.open", {"a": 1}, idempotency_key="e1")
        assert_exact(box, 8)

        jobs = {job.idempotency_key: job for job in box.claim(100)}
        assert_exact(box, 8)  # pending -> in flight is still active
        box.complete_many([(jobs["p0"].id, Done()), (jobs["p1"].id, Dead("no")), (jobs["p2"].id, RetryLater("net"))])
        assert_exact(box, 6)
        box.requeue_in_flight()
        assert_exact(box, 6)
        clock.advance(301)
        box.expire_overdue()
        assert_exact(box, 5)  # e1 died of old age
        assert box.retry(ids=[plain[1]]) == 1
        assert_exact(box, 6)
        box.claim(100)
        box.complete(plain[1], Dead("still no"))
        assert box.purge(ids=[plain[1]]) == 1
        assert_exact(box, 5)
        clock.advance(86400 * 30)
        box.purge_done(older_than=3600)
        box.purge_dead(older_than=3600)
        assert_exact(box, 5)


def test_the_active_count_stays_exact_when_another_process_writes(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.db"
    with Outbox.open(path, clock=clock) as box:
        for n in range(5):
            box.enqueue("points.add", {"n": n}, idempotency_key=f"p{n}")
        # another process: the agent's CLI, through the Outbox API
        script = (
            "import sys; from offline_queue import Outbox, Dead; box = Outbox.open(sys.argv[1]);"
            "[box.enqueue('points.add', {'n': n}, idempotency_key=f'x{n}') for n in range(3)];"
            "[box.complete(job.id, Dead('no')) for job in box.claim(2)]; box.close()"
        )
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60, cwd=PROJECT)
        assert_exact(box, 6)
        # and a technician's sqlite3 shell, which knows nothing of the outbox's code
        shell = sqlite3.connect(path, isolation_level=None)
        shell.execute("UPDATE outbox_jobs SET state = 'done' WHERE idempotency_key IN ('p3', 'p4')")
        shell.execute("UPDATE outbox_jobs SET state = 'pending' WHERE state = 'dead'")
        shell.execute("DELETE FROM outbox_jobs WHERE idempotency_key = 'x2'")
        shell.close()
        assert_exact(box, 5)
        box.enqueue("points.add", {"n": 7}, idempotency_key="p7")
        assert_exact(box, 6)


def test_the_cap_is_enforced_exactly_at_the_limit_whoever_wrote_last(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.db"
    with Outbox.open(path, caps=Caps(max_pending=3), policies=POLICIES, clock=clock) as box:
        for n in range(3):
            box.enqueue("points.add", {"n": n}, idempotency_key=f"p{n}")
        with pytest.raises(OutboxFull, match="3 jobs pending, cap is 3"):
            box.enqueue("points.add", {"n": 3}, idempotency_key="p3")
        with pytest.raises(OutboxFull, match="3 jobs pending, cap is 3"):  # the ordered path too
            box.enqueue("points.add", {"n": 3}, idempotency_key="p3", ordering_key="C1")
        box.enqueue("trade.cancel", {"t": 1}, idempotency_key="c1")  # essential: never refused
        assert_exact(box, 4)
        with sqlite3.connect(path) as shell:  # another writer finishes two jobs
            shell.execute("UPDATE outbox_jobs SET state = 'done' WHERE idempotency_key IN ('p0', 'c1')")
        box.enqueue("points.add", {"n": 3}, idempotency_key="p3")  # exactly one place freed...
        with pytest.raises(OutboxFull, match="3 jobs pending, cap is 3"):
            box.enqueue("points.add", {"n": 4}, idempotency_key="p4")  # ...and no more
        assert_exact(box, 3)
        assert box.get(box.list(state=State.PENDING)[-1].id).idempotency_key == "p3"


def selects_run_by(box: Outbox, action: object) -> list[str]:
    """The SELECT statements (with their values) that the writer connection runs during `action`."""
    seen: list[str] = []
    box._writer.set_trace_callback(seen.append)
    try:
        action()  # type: ignore[operator]
    finally:
        box._writer.set_trace_callback(None)
    return [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]


def test_an_enqueue_after_another_writer_never_scans_the_jobs_table(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.db"
    with Outbox.open(path, caps=Caps(max_pending=1000), clock=clock) as box:
        for n in range(20):
            box.enqueue("points.add", {"n": n}, idempotency_key=f"p{n}")
        with sqlite3.connect(path) as other:  # another store of the agent writes the same database
            other.execute("CREATE TABLE IF NOT EXISTS sales (id INTEGER PRIMARY KEY)")
            other.execute("INSERT INTO sales DEFAULT VALUES")
        statements = selects_run_by(box, lambda: box.enqueue("points.add", {"n": 99}, idempotency_key="p99"))
        plans = {sql: box._writer.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall() for sql in statements}
    assert statements, "the cap check reads the count"
    scans = {sql: [row[3] for row in plan if row[3].startswith("SCAN")] for sql, plan in plans.items()}
    assert {sql: steps for sql, steps in scans.items() if steps} == {}


def test_the_cap_check_is_one_primary_key_look_up(tmp_path: Path) -> None:
    with Outbox.open(tmp_path / "a.db") as box:
        plan = [row[3] for row in box._writer.execute(f"EXPLAIN QUERY PLAN {ACTIVE_COUNT_SQL}")]
    assert plan == ["SEARCH outbox_counts USING PRIMARY KEY (name=?)"]


def test_a_count_broken_by_a_hand_edit_that_bypasses_the_triggers_is_mended_at_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "a.db"
    with Outbox.open(path, clock=clock) as box:
        job = box.enqueue("points.add", {"n": 1}, idempotency_key="p1")
        with sqlite3.connect(path) as shell:  # REPLACE deletes the old row without its delete trigger
            shell.execute(
                "INSERT OR REPLACE INTO outbox_jobs (id, kind, idempotency_key, payload, fingerprint, state, "
                "created_at, updated_at) SELECT id, kind, idempotency_key, payload, fingerprint, state, "
                "created_at, updated_at FROM outbox_jobs WHERE id = ?",
                (job.id,),
            )
        assert counted(box) == (2, 1)
    with Outbox.open(path, clock=clock) as box:
        box.requeue_in_flight()  # what the dispatcher does once at start
        assert_exact(box, 1)


def test_concurrent_enqueues_sharing_a_commit_never_overshoot_the_cap(tmp_path: Path, clock: FakeClock) -> None:
    refused: list[str] = []
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_pending=50), clock=clock) as box:

        def producer(worker: int) -> None:
            for n in range(20):
                try:
                    box.enqueue("points.add", {"n": n}, idempotency_key=f"{worker}-{n}")
                except OutboxFull:
                    refused.append(f"{worker}-{n}")

        threads = [threading.Thread(target=producer, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert_exact(box, 50)
    assert len(refused) == 8 * 20 - 50
