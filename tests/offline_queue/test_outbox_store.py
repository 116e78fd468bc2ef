"""The store: durability, idempotency, ordering, coalescing, caps, deadlines, dead letters, visibility."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from offline_queue import (
    KEY_LOST_REASON,
    Caps,
    CorruptDatabase,
    Dead,
    Done,
    IdempotencyConflict,
    JobEvent,
    KeyFileError,
    KindPolicy,
    Outbox,
    OutboxFull,
    OutboxTooLarge,
    RetryLater,
    State,
    Unknown,
    UnknownJob,
)
from tests.offline_queue.helpers import POLICIES, FakeClock


def claim_ids(outbox: Outbox, limit: int = 100) -> list[int]:
    return [job.id for job in outbox.claim(limit)]


# ---- durability and idempotency ---------------------------------------------------------------


def test_database_runs_in_wal_with_synchronous_full(outbox: Outbox) -> None:
    assert outbox._writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_an_enqueued_job_is_committed_when_enqueue_returns(outbox: Outbox) -> None:
    job = outbox.enqueue("points.add", {"points": 5}, idempotency_key="u-1")
    other = sqlite3.connect(outbox.path)  # a separate connection sees only committed data
    assert other.execute("SELECT state FROM outbox_jobs WHERE id = ?", (job.id,)).fetchone() == ("pending",)
    other.close()


def test_a_resent_key_returns_the_existing_job(outbox: Outbox) -> None:
    first = outbox.enqueue("points.add", {"points": 5}, idempotency_key="u-1", ordering_key="C1")
    again = outbox.enqueue("points.add", {"points": 5}, idempotency_key="u-1", ordering_key="C1")
    assert again.id == first.id
    assert outbox.stats().backlog == 1


def test_a_resent_unordered_job_is_not_stored_twice(outbox: Outbox) -> None:
    first = outbox.enqueue("points.add", {"points": 5}, idempotency_key="u-1")
    again = outbox.enqueue("points.add", {"points": 5}, idempotency_key="u-1")
    assert (again.id, again.payload) == (first.id, {"points": 5})
    assert outbox.stats().backlog == 1


def test_a_resend_is_answered_even_when_the_outbox_is_full(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_pending=1), clock=clock) as box:
        first = box.enqueue("k", {"n": 1}, idempotency_key="1")
        assert box.enqueue("k", {"n": 1}, idempotency_key="1").id == first.id
        with pytest.raises(OutboxFull):
            box.enqueue("k", {"n": 2}, idempotency_key="2")


def test_a_reused_key_with_different_content_is_a_conflict_and_does_not_leak_the_key(outbox: Outbox) -> None:
    outbox.enqueue("points.add", {"points": 5}, idempotency_key="serial-000123456")
    with pytest.raises(IdempotencyConflict) as caught:
        outbox.enqueue("points.add", {"points": 6}, idempotency_key="serial-000123456")
    assert "serial-000123456" not in str(caught.value)
    assert outbox.stats().backlog == 1


def test_jobs_survive_a_reopen(tmp_path: Path, clock: FakeClock, key_file: Path) -> None:
    with Outbox.open(tmp_path / "a.db", key_file=key_file, clock=clock) as box:
        box.enqueue("points.add", {"points": 5}, idempotency_key="u-1")
    with Outbox.open(tmp_path / "a.db", key_file=key_file, clock=clock) as box:
        (job,) = box.claim(10)
        assert job.payload == {"points": 5}


def test_a_job_in_flight_when_the_process_died_is_sent_again_with_the_same_key(
    tmp_path: Path, clock: FakeClock
) -> None:
    with Outbox.open(tmp_path / "a.db", clock=clock) as box:
        box.enqueue("card.open", {"x": 1}, idempotency_key="serial-1")
        assert len(box.claim(10)) == 1  # ... and the process is killed here
    with Outbox.open(tmp_path / "a.db", clock=clock) as box:
        assert box.claim(10) == []  # still in flight until the owner requeues it
        assert box.requeue_in_flight() == 1
        (job,) = box.claim(10)
        assert job.idempotency_key == "serial-1" and job.attempts == 2
        assert [a.event for a in box.history(job.id)] == ["interrupted"]


def test_bad_input_is_refused_clearly_and_nothing_is_stored(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="JSON"):
        outbox.enqueue("points.add", {"when": object()}, idempotency_key="u-1")
    with pytest.raises(ValueError, match="non-empty"):
        outbox.enqueue("points.add", {}, idempotency_key="")
    with pytest.raises(ValueError, match="not in the payload"):
        outbox.enqueue("points.add", {}, idempotency_key="u-2", sensitive=("phone",))
    with pytest.raises(ValueError, match="business_time"):
        outbox.enqueue("card.update", {"points": 1}, idempotency_key="u-3", ordering_key="C1")
    assert outbox.stats().counts == {}


# ---- ordering ---------------------------------------------------------------------------------


def test_same_ordering_key_runs_one_at_a_time_in_enqueue_order(outbox: Outbox) -> None:
    a = outbox.enqueue("points.add", {"n": 1}, idempotency_key="a", ordering_key="C1")
    b = outbox.enqueue("points.add", {"n": 2}, idempotency_key="b", ordering_key="C1")
    other = outbox.enqueue("points.add", {"n": 3}, idempotency_key="c", ordering_key="C2")
    assert b.next_attempt_at is None  # waiting behind a
    assert claim_ids(outbox) == [a.id, other.id]
    assert claim_ids(outbox) == []
    outbox.complete(a.id, Done())
    assert claim_ids(outbox) == [b.id]


def test_a_head_backing_off_holds_its_key_but_not_the_others(outbox: Outbox, clock: FakeClock) -> None:
    a = outbox.enqueue("points.add", {"n": 1}, idempotency_key="a", ordering_key="C1")
    b = outbox.enqueue("points.add", {"n": 2}, idempotency_key="b", ordering_key="C1")
    free = outbox.enqueue("points.add", {"n": 3}, idempotency_key="c")
    assert claim_ids(outbox, 1) == [a.id]
    assert outbox.complete(a.id, RetryLater("network down", after=30)) is State.PENDING
    assert claim_ids(outbox) == [free.id]
    clock.advance(31)
    assert claim_ids(outbox) == [a.id]
    outbox.complete(a.id, Done())
    assert claim_ids(outbox) == [b.id]


def test_a_dead_head_releases_its_key(outbox: Outbox) -> None:
    a = outbox.enqueue("points.add", {"n": 1}, idempotency_key="a", ordering_key="C1")
    b = outbox.enqueue("points.add", {"n": 2}, idempotency_key="b", ordering_key="C1")
    claim_ids(outbox)
    outbox.complete(a.id, Dead("CARD_NOT_EXIST"))
    assert claim_ids(outbox) == [b.id]


def test_wake_makes_every_backing_off_job_due_at_once(outbox: Outbox) -> None:
    a = outbox.enqueue("points.add", {"n": 1}, idempotency_key="a")
    claim_ids(outbox)
    outbox.complete(a.id, RetryLater("offline", after=3600))
    assert claim_ids(outbox) == []
    assert outbox.wake() == 1
    assert claim_ids(outbox) == [a.id]


def test_unknown_outcome_retries_with_the_same_key(outbox: Outbox, clock: FakeClock) -> None:
    a = outbox.enqueue("points.add", {"n": 1}, idempotency_key="serial-9")
    claim_ids(outbox)
    outbox.complete(a.id, Unknown("timeout after sending"))
    clock.advance(400)
    (again,) = outbox.claim(10)
    assert again.idempotency_key == "serial-9" and again.attempts == 2
    outbox.complete(a.id, Done({"ok": True}))
    assert [h.event for h in outbox.history(a.id)] == ["sent:unknown", "sent:done"]
    assert outbox.get(a.id).result == {"ok": True}


# ---- coalescing -------------------------------------------------------------------------------


def update(outbox: Outbox, key: str, when: float, points: int, card: str = "C1"):  # type: ignore[no-untyped-def]
    return outbox.enqueue("card.update", {"points": points}, idempotency_key=key, ordering_key=card, business_time=when)


def test_a_newer_update_supersedes_pending_older_ones(outbox: Outbox) -> None:
    old = update(outbox, "u1", 100, 10)
    new = update(outbox, "u2", 200, 20)
    assert outbox.get(old.id).state is State.SUPERSEDED
    assert outbox.get(old.id).last_error == f"coalesced into job {new.id}"
    (sent,) = outbox.claim(10)
    assert sent.payload == {"points": 20}


def test_an_update_in_flight_is_not_recalled_and_the_newer_one_follows_it(outbox: Outbox) -> None:
    old = update(outbox, "u1", 100, 10)
    assert claim_ids(outbox) == [old.id]
    new = update(outbox, "u2", 200, 20)
    assert claim_ids(outbox) == []
    outbox.complete(old.id, Done())
    assert claim_ids(outbox) == [new.id]


def test_an_older_update_arriving_late_is_recorded_but_never_sent(outbox: Outbox) -> None:
    newer = update(outbox, "u2", 200, 20)
    claim_ids(outbox)
    outbox.complete(newer.id, Done())
    outbox.purge_done(older_than=-1)  # even once history is purged
    late = update(outbox, "u1", 100, 10)
    assert late.state is State.SUPERSEDED and (late.last_error or "").startswith("stale")
    assert claim_ids(outbox) == []
    assert outbox.stats().counts["card.update"] == {"superseded": 1}


def test_coalescing_is_per_card_and_per_kind(outbox: Outbox) -> None:
    update(outbox, "u1", 100, 10, card="C1")
    update(outbox, "u2", 50, 5, card="C2")
    assert sorted(j.payload["points"] for j in outbox.claim(10)) == [5, 10]


def test_retrying_a_dead_update_that_was_overtaken_supersedes_it(outbox: Outbox) -> None:
    old = update(outbox, "u1", 100, 10)
    claim_ids(outbox)
    outbox.complete(old.id, Dead("SYSTEM_ERROR"))
    update(outbox, "u2", 200, 20)
    assert outbox.retry(ids=[old.id]) == 1
    assert outbox.get(old.id).state is State.SUPERSEDED


# ---- caps and deadlines -----------------------------------------------------------------------


def test_pending_cap_raises_and_stores_nothing(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_pending=2), clock=clock) as box:
        box.enqueue("k", {}, idempotency_key="1")
        box.enqueue("k", {}, idempotency_key="2")
        with pytest.raises(OutboxFull, match="2 jobs pending, cap is 2"):
            box.enqueue("k", {}, idempotency_key="3")
        assert box.stats().backlog == 2
        (job,) = box.claim(1)
        box.complete(job.id, Done())
        box.enqueue("k", {}, idempotency_key="3")  # room again


def test_pending_cap_counts_jobs_added_by_another_process(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_pending=2), clock=clock) as box:
        box.enqueue("k", {}, idempotency_key="1")
        with Outbox.open(tmp_path / "a.db", clock=clock) as other:
            other.enqueue("k", {}, idempotency_key="2")
        with pytest.raises(OutboxFull):
            box.enqueue("k", {}, idempotency_key="3")


def test_database_size_cap_raises(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_db_bytes=128 * 1024), clock=clock) as box:
        with pytest.raises(OutboxTooLarge):
            for n in range(1000):
                box.enqueue("k", {"blob": "x" * 2000}, idempotency_key=str(n))
        assert 0 < box.stats().backlog < 1000


ESSENTIAL = {"trade.cancel": KindPolicy(essential=True), "card.update": KindPolicy(absolute=True)}


def test_a_reversal_is_accepted_at_the_pending_cap_while_other_work_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_pending=50), policies=ESSENTIAL, clock=clock) as box:
        for n in range(50):
            box.enqueue("card.authorize", {"n": n}, idempotency_key=f"a{n}")
        reversal = box.enqueue("trade.cancel", {"out_trade_no": "T1"}, idempotency_key="cancel:T1")
        assert reversal.state is State.PENDING
        with pytest.raises(OutboxFull, match="51 jobs pending, cap is 50; nothing was stored"):
            box.enqueue("card.update", {"point": "10"}, idempotency_key="u1", ordering_key="C1", business_time=1.0)
        with pytest.raises(OutboxFull):
            box.enqueue("card.authorize", {"n": 99}, idempotency_key="a99")


def test_a_reversal_is_accepted_at_the_size_cap_while_other_work_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_db_bytes=160 * 1024), policies=ESSENTIAL, clock=clock) as box:
        with pytest.raises(OutboxTooLarge):
            for n in range(1000):
                box.enqueue("card.authorize", {"blob": "x" * 2000}, idempotency_key=f"a{n}")
        for n in range(20):  # over the cap, and more than one size re-read later
            box.enqueue("trade.cancel", {"out_trade_no": f"T{n}"}, idempotency_key=f"cancel:T{n}")
        with pytest.raises(OutboxTooLarge, match="nothing was stored"):
            box.enqueue("card.update", {"point": "10"}, idempotency_key="u1", ordering_key="C1", business_time=1.0)


def test_the_size_cap_counts_pages_in_use_so_purged_space_is_room_again(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", caps=Caps(max_db_bytes=160 * 1024), clock=clock) as box:
        with pytest.raises(OutboxTooLarge):
            for n in range(1000):
                box.enqueue("card.authorize", {"blob": "x" * 2000}, idempotency_key=f"a{n}")
        while jobs := box.claim(100):
            box.complete_many([(job.id, Dead("forged")) for job in jobs])
        clock.advance(86400)
        while box.purge_dead(older_than=3600) == 500:
            pass
        for n in range(40):  # the freed pages are reused: the file does not shrink, yet there is room
            box.enqueue("card.update", {"point": str(n)}, idempotency_key=f"u{n}", ordering_key="C1",
                        business_time=float(n))  # fmt: skip


def test_a_card_open_dies_when_its_auth_code_can_no_longer_be_valid(outbox: Outbox, clock: FakeClock) -> None:
    job = outbox.enqueue("card.open", {"auth_code": "A1"}, idempotency_key="serial-1", ordering_key="C1")
    behind = outbox.enqueue("points.add", {"n": 1}, idempotency_key="p1", ordering_key="C1")
    clock.advance(301)
    assert claim_ids(outbox) == [behind.id]  # the expired head died and freed its key
    dead = outbox.get(job.id)
    assert dead.state is State.DEAD
    assert dead.last_error == "auth code expired: ask the customer to scan again"


def test_housekeeping_expires_jobs_still_waiting_behind_their_key(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("points.add", {"n": 1}, idempotency_key="p1", ordering_key="C1")
    waiting = outbox.enqueue("card.open", {"auth_code": "A1"}, idempotency_key="s1", ordering_key="C1")
    clock.advance(301)
    assert outbox.expire_overdue() == 1
    assert outbox.get(waiting.id).state is State.DEAD


# ---- dead letters and housekeeping -------------------------------------------------------------


def test_dead_letters_keep_their_history_and_can_be_retried_by_id_kind_or_all(outbox: Outbox) -> None:
    ids = [outbox.enqueue(kind, {}, idempotency_key=f"k{n}").id for n, kind in enumerate("aab")]
    claim_ids(outbox)
    for job_id in ids:
        outbox.complete(job_id, Dead("INVALID_PARAMETER"))
    assert outbox.get(ids[0]).last_error == "INVALID_PARAMETER"
    assert [h.event for h in outbox.history(ids[0])] == ["sent:dead"]
    assert outbox.retry(ids=[ids[0]]) == 1
    assert outbox.retry(kind="a") == 1
    assert outbox.retry(all=True) == 1
    revived = outbox.claim(10)
    assert sorted(j.id for j in revived) == ids and all(j.attempts == 1 for j in revived)


def test_purge_removes_dead_letters_only(outbox: Outbox) -> None:
    dead = outbox.enqueue("a", {}, idempotency_key="1")
    alive = outbox.enqueue("a", {}, idempotency_key="2", ordering_key="X")
    outbox.claim(1)
    outbox.complete(dead.id, Dead("no"))
    assert outbox.purge(all=True) == 1
    with pytest.raises(UnknownJob):
        outbox.get(dead.id)
    assert outbox.get(alive.id).state is State.PENDING
    with pytest.raises(ValueError):
        outbox.purge()


def test_done_jobs_are_purged_after_the_retention_in_small_batches(outbox: Outbox, clock: FakeClock) -> None:
    for n in range(25):
        outbox.enqueue("a", {}, idempotency_key=str(n))
    for job in outbox.claim(100):
        outbox.complete(job.id, Done())
    assert outbox.purge_done(older_than=3600, batch=10) == 0  # too recent
    clock.advance(3601)
    assert [outbox.purge_done(older_than=3600, batch=10) for _ in range(4)] == [10, 10, 5, 0]
    assert outbox.stats().counts == {}


# ---- visibility -------------------------------------------------------------------------------


def test_stats_count_per_kind_and_state_with_the_oldest_pending_age(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("a", {}, idempotency_key="1")
    clock.advance(10)
    outbox.enqueue("b", {}, idempotency_key="2", ordering_key="K")
    outbox.enqueue("b", {}, idempotency_key="3", ordering_key="K")
    job = outbox.claim(1)[0]
    outbox.complete(job.id, Done())
    clock.advance(5)
    stats = outbox.stats()
    assert stats.counts == {"a": {"done": 1}, "b": {"pending": 2}}
    assert stats.oldest_pending_age == 5
    assert stats.total(State.PENDING) == 2 and stats.db_bytes > 0


def test_list_filters_and_pages(outbox: Outbox) -> None:
    ids = [outbox.enqueue("a" if n % 2 else "b", {}, idempotency_key=str(n)).id for n in range(6)]
    assert [j.id for j in outbox.list(kind="a")] == ids[1::2]
    assert [j.id for j in outbox.list(state="pending", limit=2, after_id=ids[1])] == ids[2:4]


def test_subscribers_hear_each_committed_change(outbox: Outbox) -> None:
    events: list[JobEvent] = []
    unsubscribe = outbox.subscribe(events.append)
    job = outbox.enqueue("a", {}, idempotency_key="1")
    outbox.claim(1)
    outbox.complete(job.id, Dead("nope"))
    assert [(e.job_id, e.state, e.reason) for e in events] == [
        (job.id, State.PENDING, None),
        (job.id, State.DEAD, "nope"),
    ]
    unsubscribe()
    outbox.enqueue("a", {}, idempotency_key="2")
    assert len(events) == 2


def test_a_failing_subscriber_does_not_break_enqueue(outbox: Outbox) -> None:
    def broken(event: JobEvent) -> None:
        raise RuntimeError("boom")

    outbox.subscribe(broken)
    assert outbox.enqueue("a", {}, idempotency_key="1").state is State.PENDING


# ---- encryption at rest -----------------------------------------------------------------------


def test_sensitive_fields_are_encrypted_at_rest_and_shown_redacted(outbox: Outbox) -> None:
    job = outbox.enqueue(
        "card.open",
        {"phone": "13800138000", "name": "Zhang San", "template_id": "T1"},
        idempotency_key="s-1",
        sensitive=("phone", "name"),
    )
    assert job.payload == {"phone": "<sensitive>", "name": "<sensitive>", "template_id": "T1"}
    assert "13800138000" not in repr(job)
    outbox._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in outbox.path.parent.glob("agent.db*"))
    assert b"13800138000" not in raw and b"Zhang San" not in raw and b"T1" in raw
    (claimed,) = outbox.claim(1)
    assert claimed.payload["phone"] == "13800138000"


def test_sensitive_fields_without_a_key_are_refused(tmp_path: Path, clock: FakeClock) -> None:
    with Outbox.open(tmp_path / "a.db", clock=clock) as box:
        with pytest.raises(KeyFileError):
            box.enqueue("card.open", {"phone": "13800138000"}, idempotency_key="1", sensitive=("phone",))
        assert box.stats().counts == {}


def test_losing_the_key_kills_those_jobs_loudly_and_spares_the_rest(
    tmp_path: Path, clock: FakeClock, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Outbox.open(tmp_path / "a.db", key_file=key_file, clock=clock) as box:
        secret = box.enqueue("card.open", {"phone": "13800138000"}, idempotency_key="1", sensitive=("phone",))
        plain = box.enqueue("points.add", {"n": 1}, idempotency_key="2")
    with Outbox.open(tmp_path / "a.db", clock=clock) as box:  # key file gone
        assert [j.id for j in box.claim(10)] == [plain.id]
        lost = box.get(secret.id)
        assert (lost.state, lost.last_error) == (State.DEAD, KEY_LOST_REASON)
    assert "unreadable" in caplog.text and "13800138000" not in caplog.text


def test_a_different_key_is_as_good_as_a_lost_one(tmp_path: Path, clock: FakeClock, key_file: Path) -> None:
    from offline_queue import create_key_file

    with Outbox.open(tmp_path / "a.db", key_file=key_file, clock=clock) as box:
        job = box.enqueue("card.open", {"phone": "1"}, idempotency_key="1", sensitive=("phone",))
    other_key = create_key_file(tmp_path / "other.key")
    with Outbox.open(tmp_path / "a.db", key_file=other_key, clock=clock) as box:
        assert box.claim(10) == []
        assert box.get(job.id).last_error == KEY_LOST_REASON


def test_a_key_file_readable_by_others_stops_open(tmp_path: Path, key_file: Path) -> None:
    key_file.chmod(0o640)
    with pytest.raises(KeyFileError, match="0600"):
        Outbox.open(tmp_path / "a.db", key_file=key_file)


# ---- corruption ------------------------------------------------------------------------------


def test_a_corrupt_database_is_refused_and_moved_aside_intact(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    path.write_bytes(b"this is not an SQLite database" * 200)
    with pytest.raises(CorruptDatabase) as caught:
        Outbox.open(path)
    moved = caught.value.moved_to
    assert moved is not None and moved.read_bytes().startswith(b"this is not an SQLite")
    assert not path.exists()
    with Outbox.open(path) as fresh:  # the recovery path: start clean, the broken file is kept
        assert fresh.stats().counts == {}


def test_a_damaged_page_fails_the_integrity_check(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    with Outbox.open(path) as box:
        for n in range(300):
            box.enqueue("a", {"blob": "y" * 500}, idempotency_key=str(n))
        box._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(5 * page, min(len(data), 12 * page), 7):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatabase) as caught:
        Outbox.open(path, move_corrupt_aside=False)
    assert caught.value.moved_to is None and path.exists()


def test_an_observer_never_moves_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(CorruptDatabase):
        Outbox.open(path, move_corrupt_aside=False)
    assert path.read_bytes() == b"garbage" * 1000


def test_policies_fixture_is_the_one_under_test() -> None:
    assert POLICIES["card.update"] == KindPolicy(absolute=True)
    assert random.Random(1).random() == random.Random(1).random()


def test_a_job_deadline_can_be_tighter_than_its_kind_max_age(outbox: Outbox, clock: FakeClock) -> None:
    job = outbox.enqueue("card.open", {"auth_code": "A1"}, idempotency_key="s-1", deadline=clock.now + 60)
    assert job.deadline == clock.now + 60
    clock.advance(61)
    assert claim_ids(outbox) == []
    assert outbox.get(job.id).last_error == "auth code expired: ask the customer to scan again"


def test_business_time_may_be_an_aware_datetime_but_not_a_naive_one(outbox: Outbox) -> None:
    from datetime import UTC, datetime

    job = update(outbox, "u1", datetime(2026, 11, 25, 12, 0, tzinfo=UTC), 5)  # type: ignore[arg-type]
    assert job.business_time == datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match="timezone-aware"):
        update(outbox, "u2", datetime(2026, 11, 25, 12, 0), 6)  # type: ignore[arg-type]


def test_an_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    from offline_queue import OutboxError

    with pytest.raises(OutboxError, match="cannot open outbox database"):
        Outbox.open(tmp_path / "no" / "such" / "dir" / "agent.db")
