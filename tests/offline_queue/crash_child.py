"""Helper process for test_crash_recovery: drains the outbox into an "effects" store, then exits.

The effects store plays the remote API: it applies each idempotency key once (a resend is
counted as a duplicate, not applied again), keeps each card's points state, and records any
regression (an older business time applied after a newer one). The parent SIGKILLs this process
at random moments; nothing here tries to exit cleanly.

    python crash_child.py OUTBOX_DB EFFECTS_DB SEED
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys

from offline_queue import Dispatcher, Done, Job, KindPolicy, Outbox, Outcome

POLICIES = {"card.update": KindPolicy(absolute=True)}

EFFECTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    n INTEGER PRIMARY KEY, idempotency_key TEXT UNIQUE, kind TEXT, card TEXT, seq INTEGER, business_time REAL
);
CREATE TABLE IF NOT EXISTS duplicates (idempotency_key TEXT);
CREATE TABLE IF NOT EXISTS card_state (card TEXT PRIMARY KEY, business_time REAL, points INTEGER);
CREATE TABLE IF NOT EXISTS regressions (card TEXT, had REAL, got REAL);
"""


def open_effects(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(EFFECTS_SCHEMA)
    return conn


def apply(conn: sqlite3.Connection, job: Job) -> None:
    """One remote call: applied exactly once per idempotency key, atomically."""
    conn.execute("BEGIN IMMEDIATE")
    seen = conn.execute("SELECT 1 FROM effects WHERE idempotency_key = ?", (job.idempotency_key,)).fetchone()
    if seen:
        conn.execute("INSERT INTO duplicates VALUES (?)", (job.idempotency_key,))
    else:
        conn.execute(
            "INSERT INTO effects (idempotency_key, kind, card, seq, business_time) VALUES (?, ?, ?, ?, ?)",
            (job.idempotency_key, job.kind, job.ordering_key, job.payload.get("seq"), job.business_time),
        )
        if job.kind == "card.update":
            card, when = job.ordering_key, job.business_time
            state = conn.execute("SELECT business_time FROM card_state WHERE card = ?", (card,)).fetchone()
            if state is not None and when is not None and when < state[0]:
                conn.execute("INSERT INTO regressions VALUES (?, ?, ?)", (card, state[0], when))
            conn.execute(
                "INSERT INTO card_state VALUES (?, ?, ?) ON CONFLICT(card) DO UPDATE SET "
                "business_time = excluded.business_time, points = excluded.points",
                (card, when, job.payload["points"]),
            )
    conn.execute("COMMIT")


async def main(outbox_path: str, effects_path: str, seed: int) -> None:
    rng = random.Random(seed)
    effects = open_effects(effects_path)
    outbox = Outbox.open(outbox_path, policies=POLICIES, check_integrity=False)

    async def handler(job: Job) -> Outcome:
        await asyncio.sleep(rng.random() * 0.008)  # the network round trip
        apply(effects, job)
        await asyncio.sleep(rng.random() * 0.004)  # ... and the response on its way back
        return Done()

    print("ready", flush=True)
    kinds = ("ledger.add", "card.update", "card.open")
    await Dispatcher(outbox, dict.fromkeys(kinds, handler), concurrency=4).run_until_idle()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
