"""Kill -9 at random moments, 25 times: nothing lost, nothing applied twice, nothing out of order.

A child process drains the outbox into a separate effects store (the stand-in for the remote
API, which absorbs resends by idempotency key). The parent keeps enqueuing, SIGKILLs the child at
random moments, restarts it, and after the last restart checks the effects.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from offline_queue import KindPolicy, Outbox, State

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]
KILLS = 25
CARDS = [f"C{n}" for n in range(8)]


class Producer:
    """Enqueues ordered ledger entries, out-of-order absolute card updates and unordered card opens."""

    def __init__(self, outbox: Outbox, rng: random.Random) -> None:
        self.outbox = outbox
        self.rng = rng
        self.seq: dict[str, int] = defaultdict(int)
        self.newest: dict[str, float] = {}
        self.clock = 0
        self.opens = 0

    def batch(self, size: int) -> None:
        for _ in range(size):
            card = self.rng.choice(CARDS)
            roll = self.rng.random()
            if roll < 0.5:
                self.seq[card] += 1
                seq = self.seq[card]
                self.outbox.enqueue(
                    "ledger.add", {"seq": seq}, idempotency_key=f"ledger-{card}-{seq}", ordering_key=card
                )
            elif roll < 0.9:
                self.clock += 1
                # Till events arrive late and out of order now and then.
                when = float(self.clock - self.rng.choice([0, 0, 0, 1, 3, 7]))
                job = self.outbox.enqueue(
                    "card.update",
                    {"points": int(when) * 10},
                    idempotency_key=f"update-{self.clock}",
                    ordering_key=card,
                    business_time=when,
                )
                if job.state is State.PENDING:
                    self.newest[card] = max(self.newest.get(card, when), when)
            else:
                self.opens += 1
                self.outbox.enqueue("card.open", {"n": self.opens}, idempotency_key=f"open-{self.opens}")


def start_child(db: Path, effects: Path, seed: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(effects), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_sigkill_25_times_loses_nothing_duplicates_nothing_and_keeps_order(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    db, effects_path = tmp_path / "outbox.db", tmp_path / "effects.db"
    outbox = Outbox.open(db, policies={"card.update": KindPolicy(absolute=True)})
    producer = Producer(outbox, rng)
    producer.batch(2500)
    killed_mid_drain = 0
    for round_no in range(KILLS):
        child = start_child(db, effects_path, seed=round_no)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
            producer.batch(rng.randint(10, 60))  # keep enqueuing while it drains
            time.sleep(rng.uniform(0.02, 0.3))
            if child.poll() is None:
                killed_mid_drain += 1
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
    final = start_child(db, effects_path, seed=999)
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr[-2000:]

    jobs = {job.idempotency_key: job for job in _all_jobs(outbox)}
    effects = sqlite3.connect(effects_path)
    applied = effects.execute(
        "SELECT idempotency_key, kind, card, seq, business_time FROM effects ORDER BY n"
    ).fetchall()
    duplicates = effects.execute("SELECT count(*) FROM duplicates").fetchone()[0]
    regressions = effects.execute("SELECT * FROM regressions").fetchall()
    card_state = dict(effects.execute("SELECT card, business_time FROM card_state").fetchall())
    interrupted = sum(1 for job in jobs.values() for h in outbox.history(job.id) if h.event == "interrupted")
    effects.close()

    # None lost: every job finished; every sent job took effect exactly once (keys absorb resends).
    assert {job.state for job in jobs.values()} <= {State.DONE, State.SUPERSEDED}
    applied_keys = [row[0] for row in applied]
    assert len(applied_keys) == len(set(applied_keys))
    assert set(applied_keys) <= set(jobs)
    done_keys = {key for key, job in jobs.items() if job.state is State.DONE}
    assert done_keys <= set(applied_keys)
    # Per-key order: each card's ledger entries took effect 1, 2, 3, ... with no gap.
    ledger: dict[str, list[int]] = defaultdict(list)
    for _, kind, card, seq, _ in applied:
        if kind == "ledger.add":
            ledger[card].append(seq)
    assert {card: seqs for card, seqs in ledger.items()} == {
        card: list(range(1, last + 1)) for card, last in producer.seq.items()
    }
    # Absolute updates: never an older state after a newer one, and each card ends on its newest.
    assert regressions == []
    assert card_state == producer.newest
    assert killed_mid_drain > 0 and interrupted > 0  # the kills did land mid-work
    print(
        f"\n{len(jobs)} jobs, {killed_mid_drain}/{KILLS} kills mid-drain, {interrupted} interrupted attempts, "
        f"{duplicates} duplicate sends absorbed by idempotency keys"
    )
    outbox.close()


def _all_jobs(outbox: Outbox) -> list:  # type: ignore[type-arg]
    jobs, after = [], 0
    while page := outbox.list(limit=500, after_id=after):
        jobs.extend(page)
        after = page[-1].id
    return jobs
