"""Property-based model check of the real store: ordering keys and coalescing under any interleaving.

Hypothesis drives random enqueues, claims, outcomes, clock jumps and wake-ups against a real
SQLite outbox and checks, at every step: at most one job in flight per ordering key; jobs of a key
are sent in enqueue order; an absolute update is never sent after a newer one for the same card;
and once everything is drained, each card's last sent update is its newest.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from offline_queue import Dead, Done, KindPolicy, Outbox, RetryLater, State, Unknown
from tests.offline_queue.helpers import FakeClock

KEYS = st.sampled_from(["A", "B", "C", None])
CARDS = st.sampled_from(["C1", "C2"])
OUTCOMES = st.sampled_from([Done(), Done(), Done(), RetryLater("busy", after=5), Unknown("timeout"), Dead("refused")])


class OutboxModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-model-"))
        self.clock = FakeClock()
        self.box = Outbox.open(
            self.dir / "m.db",
            policies={"card.update": KindPolicy(absolute=True)},
            clock=self.clock,
            rng=random.Random(0),
            check_integrity=False,
        )
        self.serial = 0
        self.in_flight: dict[int, str | None] = {}  # job id -> ordering key
        self.last_claimed_id: dict[str, int] = {}  # ordering key -> highest id sent so far
        self.sent_times: dict[str, list[float]] = {}  # card -> business times in send order
        self.accepted_max: dict[str, float] = {}

    def teardown(self) -> None:
        self.box.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _key(self) -> str:
        self.serial += 1
        return f"job-{self.serial}"

    @rule(key=KEYS)
    def enqueue(self, key: str | None) -> None:
        self.box.enqueue("points.add", {"n": self.serial}, idempotency_key=self._key(), ordering_key=key)

    @rule(card=CARDS, when=st.integers(0, 20))
    def enqueue_update(self, card: str, when: int) -> None:
        job = self.box.enqueue(
            "card.update", {"t": when}, idempotency_key=self._key(), ordering_key=card, business_time=when
        )
        if job.state is State.PENDING:
            self.accepted_max[card] = max(self.accepted_max.get(card, when), when)

    @rule(limit=st.integers(1, 4))
    def claim(self, limit: int) -> None:
        for job in self.box.claim(limit):
            key = job.ordering_key
            if key is not None:
                assert key not in self.in_flight.values(), "two jobs of one key in flight"
                assert job.id >= self.last_claimed_id.get(key, 0), "a key's jobs were sent out of order"
                self.last_claimed_id[key] = job.id
            if job.kind == "card.update":
                assert job.business_time is not None
                times = self.sent_times.setdefault(key or "", [])
                assert not times or job.business_time >= times[-1], "an older card state was sent after a newer one"
                times.append(job.business_time)
            self.in_flight[job.id] = key

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data(), outcome=OUTCOMES)
    def complete(self, data: st.DataObject, outcome: Done | RetryLater | Unknown | Dead) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.in_flight)))
        del self.in_flight[job_id]
        self.box.complete(job_id, outcome)

    @rule(seconds=st.sampled_from([1, 10, 400]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def online_again(self) -> None:
        self.box.wake()

    @invariant()
    def store_agrees_on_what_is_in_flight(self) -> None:
        assert {j.id for j in self.box.list(state=State.IN_FLIGHT, limit=1000)} == set(self.in_flight)

    def teardown_drain_check(self) -> None:
        """Drain with Done only: every card ends on its newest accepted state."""
        for job_id in list(self.in_flight):
            self.box.complete(job_id, Done())
        self.in_flight.clear()
        for _ in range(200):
            self.clock.advance(1000)
            jobs = self.box.claim(50)
            if not jobs:
                break
            for job in jobs:
                if job.kind == "card.update":
                    self.sent_times.setdefault(job.ordering_key or "", []).append(job.business_time or 0.0)
                self.box.complete(job.id, Done())
        for card, newest in self.accepted_max.items():
            assert self.sent_times[card][-1] == newest
            assert self.sent_times[card] == sorted(self.sent_times[card])
        assert self.box.stats().backlog == 0


class DrainingModel(OutboxModel):
    def teardown(self) -> None:
        try:
            self.teardown_drain_check()
        finally:
            super().teardown()


DrainingModel.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestOutboxModel = DrainingModel.TestCase
