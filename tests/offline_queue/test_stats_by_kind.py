"""Stats tell, per kind, how long its oldest unsent job has waited: a stuck kind shows up on its own."""

from __future__ import annotations

from offline_queue import Dead, Done, Outbox, Stats
from tests.offline_queue.helpers import FakeClock


def test_each_kind_reports_the_age_of_its_oldest_pending_or_in_flight_job(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("member.query", {"n": 1}, idempotency_key="q-1")
    clock.advance(30)
    outbox.enqueue("member.query", {"n": 2}, idempotency_key="q-2")
    outbox.enqueue("receipt.note", {"n": 3}, idempotency_key="r-1")
    clock.advance(10)
    [claimed] = outbox.claim(1, kinds=["member.query"])  # the oldest one, now in flight: still unsent
    assert claimed.idempotency_key == "q-1"

    stats = outbox.stats()

    assert stats.oldest_pending_age_by_kind == {"member.query": 40.0, "receipt.note": 10.0}
    assert stats.oldest_pending_age == 40.0


def test_a_kind_with_nothing_waiting_has_no_age(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("member.query", {"n": 1}, idempotency_key="q-1")
    outbox.enqueue("receipt.note", {"n": 2}, idempotency_key="r-1")
    clock.advance(5)
    [job] = outbox.claim(1, kinds=["member.query"])
    outbox.complete(job.id, Done())
    clock.advance(5)

    stats = outbox.stats()

    assert stats.oldest_pending_age_by_kind == {"receipt.note": 10.0}
    assert stats.counts["member.query"] == {"done": 1}


def test_an_empty_outbox_has_no_ages(outbox: Outbox) -> None:
    stats = outbox.stats()

    assert stats.oldest_pending_age_by_kind == {}
    assert stats.oldest_pending_age is None


def test_stats_built_without_ages_by_kind_still_work() -> None:
    stats = Stats(counts={"card.open": {"pending": 2}}, oldest_pending_age=3.0, db_bytes=4096)

    assert stats.oldest_pending_age_by_kind == {}
    assert stats.backlog == 2


def test_finished_jobs_do_not_count_as_waiting(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("card.update", {"points": 1}, idempotency_key="u-1", ordering_key="card-1", business_time=clock.now)
    clock.advance(1)
    # The newer absolute update supersedes the older one; then Alipay rejects it for good.
    outbox.enqueue("card.update", {"points": 2}, idempotency_key="u-2", ordering_key="card-1", business_time=clock.now)
    [job] = outbox.claim(1)
    outbox.complete(job.id, Dead("rejected"))
    clock.advance(1)

    stats = outbox.stats()

    assert stats.counts["card.update"] == {"superseded": 1, "dead": 1}
    assert stats.oldest_pending_age_by_kind == {}
    assert stats.oldest_pending_age is None
