"""Reading jobs back from a database moved aside as corrupt, and queueing them again without duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline_queue import CorruptDatabase, Outbox, create_key_file, load_key_file
from offline_queue.salvage import mark_recovered, moved_aside, read_jobs, recover
from tests.support.corrupt import PHONE, damage_an_index, damage_page_holding, plant_jobs


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "outbox.key"
    create_key_file(path)
    return path


def moved(tmp_path: Path, key_file: Path) -> Path:
    """A database with planted jobs, damaged, then moved aside by the outbox as the agent's start does."""
    database = tmp_path / "agent.db"
    plant_jobs(database, key_file)
    damage_an_index(database)
    with pytest.raises(CorruptDatabase) as info:
        Outbox.open(database, key_file=key_file)
    assert info.value.moved_to is not None
    return info.value.moved_to


def test_a_moved_aside_database_is_found_and_read_without_being_written(tmp_path: Path, key_file: Path) -> None:
    path = moved(tmp_path, key_file)
    assert moved_aside(tmp_path / "agent.db") == [path]
    before = path.read_bytes()
    salvage = read_jobs(path)
    assert salvage.error is None and salvage.unreadable_rows == 0
    assert salvage.by_state() == {"pending": 3, "dead": 1, "done": 1}
    assert path.read_bytes() == before  # read from a copy: the evidence is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "outbox.key"])


def test_recovery_queues_the_pending_jobs_with_their_keys_once(tmp_path: Path, key_file: Path) -> None:
    path = moved(tmp_path, key_file)
    with Outbox.open(tmp_path / "agent.db", key_file=key_file) as live:
        # The till resent one of them meanwhile: it is in the live outbox already.
        live.enqueue("trade.cancel", {"out_trade_no": "SH01T1-0001"}, idempotency_key="cancel-1")
        first = recover(read_jobs(path), live, load_key_file(key_file))
        again = recover(read_jobs(path), live, load_key_file(key_file))
        jobs = {job.idempotency_key: job for job in live.claim(10)}
    assert (len(first.imported), first.already_there, first.complete) == (2, 1, True)
    assert (len(again.imported), again.already_there) == (0, 3)  # running it twice doubles nothing
    assert set(jobs) == {"upd-1", "open-1", "cancel-1"}
    assert jobs["open-1"].payload["phone"] == PHONE  # sealed again under the same key, readable by the agent
    assert jobs["upd-1"].ordering_key == "LOTUS0001"


def test_dead_jobs_only_on_request_and_a_wrong_key_loses_nothing(tmp_path: Path, key_file: Path) -> None:
    path = moved(tmp_path, key_file)
    other_key = tmp_path / "other.key"
    create_key_file(other_key)
    with Outbox.open(tmp_path / "agent.db", key_file=other_key) as live:
        wrong = recover(read_jobs(path), live, load_key_file(other_key))
    assert wrong.unreadable == 1 and not wrong.complete  # the sealed phone number cannot be opened: left in the file
    with Outbox.open(tmp_path / "agent.db", key_file=key_file) as live:
        result = recover(read_jobs(path), live, load_key_file(key_file), states=("pending", "in_flight", "dead"))
    assert len(result.imported) == 2  # open-1 and dead-1 (the two others came in with the wrong key)
    renamed = mark_recovered(path, "20260101T000000")
    assert moved_aside(tmp_path / "agent.db") == [] and renamed.exists()


def test_rows_past_a_damaged_table_page_are_still_read(tmp_path: Path, key_file: Path) -> None:
    database = tmp_path / "agent.db"
    with Outbox.open(database) as outbox:
        for n in range(400):
            outbox.enqueue("k", {"n": n, "pad": f"row-{n:04d}-" + "x" * 300}, idempotency_key=f"key-{n}")
    damage_page_holding(database, b"row-0200-")
    salvage = read_jobs(database)
    assert salvage.error is None
    read = {job.idempotency_key for job in salvage.jobs}
    assert "key-200" not in read and {"key-0", "key-150", "key-250", "key-399"} <= read  # before and after the damage
    assert 350 <= len(read) < 400
