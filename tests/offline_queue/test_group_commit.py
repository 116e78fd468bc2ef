"""Group commit: concurrent writers share COMMITs, and none returns before its own is durable."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from offline_queue import IdempotencyConflict, Outbox
from offline_queue.group_commit import GroupCommit


def test_concurrent_enqueues_share_transactions_and_each_is_visible_on_return(tmp_path: Path) -> None:
    box = Outbox.open(tmp_path / "a.db")
    seen_uncommitted: list[int] = []

    def producer(worker: int) -> None:
        check = sqlite3.connect(box.path)
        for n in range(40):
            job = box.enqueue("k", {"n": n}, idempotency_key=f"{worker}-{n}")
            if check.execute("SELECT 1 FROM outbox_jobs WHERE id = ?", (job.id,)).fetchone() is None:
                seen_uncommitted.append(job.id)
        check.close()

    before = box._group.transactions
    threads = [threading.Thread(target=producer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen_uncommitted == []
    assert box.stats().backlog == 320
    assert box._group.transactions - before < 320  # some commits carried several enqueues
    box.close()


def test_one_failing_request_does_not_undo_the_others_in_its_batch(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "g.db", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (v INTEGER UNIQUE)")
    group = GroupCommit(conn)
    gate = threading.Barrier(6)
    errors: list[BaseException] = []

    def insert(value: int) -> None:
        gate.wait()
        try:
            group.run(lambda c: c.execute("INSERT INTO t VALUES (?)", (value,)))
        except sqlite3.IntegrityError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(v,)) for v in (1, 2, 3, 1, 4, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1
    assert sorted(v for (v,) in conn.execute("SELECT v FROM t")) == [1, 2, 3, 4, 5]


def test_a_lone_failing_request_rolls_back_and_raises(tmp_path: Path) -> None:
    box = Outbox.open(tmp_path / "a.db")
    box.enqueue("k", {"n": 1}, idempotency_key="x")
    with pytest.raises(IdempotencyConflict):
        box.enqueue("k", {"n": 2}, idempotency_key="x")
    box.enqueue("k", {"n": 3}, idempotency_key="y")  # the connection is usable afterwards
    assert box.stats().backlog == 2
    box.close()
