"""The asyncio dispatcher: handlers, outcomes, concurrency, per-key order, wake-up."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from pathlib import Path

from offline_queue import (
    Dead,
    Dispatcher,
    Done,
    Job,
    KindPolicy,
    Outbox,
    Outcome,
    RetryLater,
    State,
)


def open_box(tmp_path: Path) -> Outbox:
    return Outbox.open(tmp_path / "a.db", policies={"card.update": KindPolicy(absolute=True)}, rng=random.Random(1))


def test_drains_every_job_and_records_outcomes(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    ok = box.enqueue("ok", {"n": 1}, idempotency_key="1")
    bad = box.enqueue("bad", {"n": 2}, idempotency_key="2")

    async def succeed(job: Job) -> Outcome:
        return Done({"echo": job.payload["n"]})

    async def refuse(job: Job) -> Outcome:
        return Dead("INVALID_PARAMETER")

    asyncio.run(Dispatcher(box, {"ok": succeed, "bad": refuse}).run_until_idle())
    assert box.get(ok.id).state is State.DONE and box.get(ok.id).result == {"echo": 1}
    assert (box.get(bad.id).state, box.get(bad.id).last_error) == (State.DEAD, "INVALID_PARAMETER")
    box.close()


def test_a_handler_that_raises_counts_as_unknown_and_the_job_is_kept(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    box = open_box(tmp_path)
    job = box.enqueue("k", {"phone": "13800138000"}, idempotency_key="1")

    async def explode(job: Job) -> Outcome:
        raise ConnectionResetError(f"lost while sending {job.payload['phone']}")

    asyncio.run(Dispatcher(box, {"k": explode}).run_until_idle())
    stored = box.get(job.id)
    assert stored.state is State.PENDING and stored.last_error == "handler raised ConnectionResetError"
    assert [h.event for h in box.history(job.id)] == ["sent:unknown"]
    assert "13800138000" not in caplog.text
    box.close()


def test_a_handler_returning_garbage_does_not_lose_the_job(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    job = box.enqueue("k", {}, idempotency_key="1")

    async def sloppy(job: Job) -> Outcome:
        return "ok"  # type: ignore[return-value]

    asyncio.run(Dispatcher(box, {"k": sloppy}).run_until_idle())
    assert box.get(job.id).state is State.PENDING
    box.close()


def test_concurrency_limit_and_per_key_order_hold_together(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    expected: dict[str, list[int]] = defaultdict(list)
    for n in range(60):
        card = f"C{n % 5}"
        box.enqueue("points.add", {"n": n}, idempotency_key=str(n), ordering_key=card)
        expected[card].append(n)
    running = 0
    most = 0
    seen: dict[str, list[int]] = defaultdict(list)

    async def handler(job: Job) -> Outcome:
        nonlocal running, most
        running += 1
        most = max(most, running)
        seen[job.ordering_key or ""].append(job.payload["n"])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        return Done()

    asyncio.run(Dispatcher(box, {"points.add": handler}, concurrency=3).run_until_idle())
    assert most <= 3 and most > 1  # concurrent, but within the limit
    assert seen == expected
    box.close()


def test_jobs_without_a_handler_are_left_pending(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    job = box.enqueue("unhandled", {}, idempotency_key="1")

    async def handler(job: Job) -> Outcome:
        return Done()

    asyncio.run(Dispatcher(box, {"other": handler}).run_until_idle())
    assert box.get(job.id).state is State.PENDING
    box.close()


def test_wake_sends_backing_off_jobs_at_once(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    job = box.enqueue("k", {}, idempotency_key="1")
    calls = 0

    async def offline_then_online(job: Job) -> Outcome:
        nonlocal calls
        calls += 1
        return RetryLater("network down", after=3600) if calls == 1 else Done()

    async def scenario() -> None:
        dispatcher = Dispatcher(box, {"k": offline_then_online}, idle_poll=0.05)
        runner = asyncio.create_task(dispatcher.run())
        for _ in range(200):  # bounded: wait until the first attempt failed
            if box.get(job.id).last_error == "network down":
                break
            await asyncio.sleep(0.01)
        dispatcher.wake()
        for _ in range(500):
            if box.get(job.id).state is State.DONE:
                break
            await asyncio.sleep(0.01)
        dispatcher.stop()
        await runner

    asyncio.run(scenario())
    assert box.get(job.id).state is State.DONE and calls == 2
    box.close()


def test_a_job_enqueued_while_running_is_picked_up_without_waiting_for_the_poll(tmp_path: Path) -> None:
    box = open_box(tmp_path)

    async def scenario() -> list[int]:
        sent: list[int] = []
        arrived = asyncio.Event()

        async def handler(job: Job) -> Outcome:
            sent.append(job.id)
            arrived.set()
            return Done()

        dispatcher = Dispatcher(box, {"k": handler}, idle_poll=3600)
        runner = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(0.05)
        job = await asyncio.to_thread(box.enqueue, "k", {}, idempotency_key="1")
        await asyncio.wait_for(arrived.wait(), 30)
        dispatcher.stop()
        await runner
        return [job.id, *sent]

    job_id, *sent = asyncio.run(scenario())
    assert sent == [job_id]
    box.close()


def test_a_stopped_run_resumes_jobs_left_in_flight(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    job = box.enqueue("k", {}, idempotency_key="1")
    box.claim(1)  # as if a previous process died mid-call

    async def handler(job: Job) -> Outcome:
        return Done()

    asyncio.run(Dispatcher(box, {"k": handler}).run_until_idle())
    assert box.get(job.id).state is State.DONE
    box.close()


def test_housekeeping_purges_old_done_jobs_and_expires_overdue_ones(tmp_path: Path) -> None:
    from tests.offline_queue.helpers import POLICIES, FakeClock

    clock = FakeClock()
    box = Outbox.open(tmp_path / "a.db", policies=POLICIES, clock=clock)
    old = box.enqueue("k", {}, idempotency_key="old")
    box.claim(1)
    box.complete(old.id, Done())
    overdue = box.enqueue("card.open", {}, idempotency_key="s-1", ordering_key="C1")
    box.enqueue("k", {}, idempotency_key="blocker", ordering_key="C0")
    clock.advance(3601)

    async def handler(job: Job) -> Outcome:
        return Done()

    asyncio.run(Dispatcher(box, {"k": handler}, done_retention=3600).run_until_idle())
    assert [j.idempotency_key for j in box.list()] == ["s-1", "blocker"]
    assert box.get(overdue.id).state is State.DEAD  # card.open has no handler here, yet it expired
    box.close()


def test_a_rate_limited_dispatcher_still_drains_everything(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    for n in range(20):
        box.enqueue("k", {}, idempotency_key=str(n))

    async def handler(job: Job) -> Outcome:
        return Done()

    dispatcher = Dispatcher(box, {"k": handler}, rate_limit=2000.0, concurrency=2)
    asyncio.run(dispatcher.run_until_idle())
    assert dispatcher.sent == 20 and box.stats().backlog == 0
    box.close()


def test_a_failing_disk_does_not_kill_the_sender(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    box = open_box(tmp_path)
    job = box.enqueue("k", {}, idempotency_key="1")
    real_claim = box.claim
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    def flaky_claim(limit: int, kinds: object = None) -> list[Job]:
        for error in failures:
            raise error
        return real_claim(limit, kinds)  # type: ignore[arg-type]

    monkeypatch.setattr(box, "claim", flaky_claim)

    async def handler(job: Job) -> Outcome:
        return Done()

    asyncio.run(Dispatcher(box, {"k": handler}, idle_poll=0.01).run_until_idle())
    assert box.get(job.id).state is State.DONE
    box.close()


def test_a_backlog_of_one_kind_does_not_hold_back_another(tmp_path: Path) -> None:
    # The audit's case: thousands of card openings queued, then a points update and a reversal.
    box = Outbox.open(tmp_path / "a.db", policies={"trade.cancel": KindPolicy(essential=True)})
    for n in range(3000):
        box.enqueue("card.authorize", {"n": n}, idempotency_key=f"a{n}")
    sent: list[str] = []

    async def handler(job: Job) -> Outcome:
        sent.append(job.kind)
        if len(sent) == 10:  # arrive while the backlog is being worked through
            box.enqueue("card.update", {}, idempotency_key="u1")
            box.enqueue("trade.cancel", {}, idempotency_key="c1")
        if len(sent) == 40:
            dispatcher.stop()
        return Done()

    handlers = {kind: handler for kind in ("card.authorize", "card.update", "trade.cancel")}
    dispatcher = Dispatcher(box, handlers, concurrency=1)
    asyncio.run(dispatcher.run())
    # One dispatch at most was already claimed when they arrived; the reversal goes first.
    assert sent.index("trade.cancel") <= 11 and sent.index("card.update") == sent.index("trade.cancel") + 1
    box.close()


def test_kinds_take_turns_between_two_backlogs(tmp_path: Path) -> None:
    box = Outbox.open(tmp_path / "a.db")
    for n in range(500):
        box.enqueue("card.authorize", {}, idempotency_key=f"a{n}")
    for n in range(3):
        box.enqueue("card.update", {}, idempotency_key=f"u{n}", ordering_key=f"card-{n}")
    kinds = [job.kind for job in box.claim(8)]
    assert kinds.count("card.update") == 3 and kinds[:6].count("card.update") == 3
    box.close()


def test_housekeeping_purges_dead_jobs_after_their_retention_but_keeps_essential_ones(tmp_path: Path) -> None:
    from tests.offline_queue.helpers import FakeClock

    clock = FakeClock()
    box = Outbox.open(tmp_path / "a.db", policies={"trade.cancel": KindPolicy(essential=True)}, clock=clock)
    old = box.enqueue("card.authorize", {}, idempotency_key="old")
    reversal = box.enqueue("trade.cancel", {}, idempotency_key="cancel")
    for job in box.claim(2):
        box.complete(job.id, Dead("no"))
    clock.advance(3 * 86400)
    recent = box.enqueue("card.authorize", {}, idempotency_key="recent")
    box.claim(1)
    box.complete(recent.id, Dead("no"))

    async def handler(job: Job) -> Outcome:
        return Done()

    asyncio.run(Dispatcher(box, {"card.authorize": handler}, dead_retention=2 * 86400).run_until_idle())
    assert sorted(j.idempotency_key for j in box.list(state="dead")) == ["cancel", "recent"]
    assert box.get(reversal.id).state is State.DEAD and old.id not in [j.id for j in box.list()]
    assert box.retry(ids=[recent.id]) == 1  # kept until then: still retryable
    box.close()
