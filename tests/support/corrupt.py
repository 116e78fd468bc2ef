"""An agent database with jobs in every state, then damaged as disks damage them: one page overwritten.

The damaged page is an index's, so SQLite's integrity check fails (the agent moves the file aside at
start) while the job rows themselves still read: what a recovery should get back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from agent.jobs import card_open, loyalty, reversals
from offline_queue import Dead, Done, Outbox

PHONE = "13800138000"  # a sealed (encrypted) field: it must come back readable with the same key


@dataclass(frozen=True)
class Planted:
    pending_keys: tuple[str, ...]  # to be sent again after recovery
    dead_key: str
    done_key: str


def plant_jobs(path: Path, key_file: Path) -> Planted:
    policies = {loyalty.KIND: loyalty.POLICY, card_open.KIND: card_open.POLICY, reversals.KIND: reversals.POLICY}
    with Outbox.open(path, key_file=key_file, policies=policies) as outbox:
        outbox.enqueue(loyalty.KIND, {"card_no": "LOTUS0001", "point": "120"}, idempotency_key="upd-1",
                       ordering_key="LOTUS0001", business_time=1_700_000_000.0)  # fmt: skip
        outbox.enqueue(card_open.KIND, {"out_serial_no": "open-1", "phone": PHONE}, idempotency_key="open-1",
                       sensitive=["phone"])  # fmt: skip
        outbox.enqueue(reversals.KIND, {"out_trade_no": "SH01T1-0001"}, idempotency_key="cancel-1")
        dead = outbox.enqueue("card.update.raw", {"card_no": "LOTUS0002"}, idempotency_key="dead-1")
        done = outbox.enqueue("card.update.raw", {"card_no": "LOTUS0003"}, idempotency_key="done-1")
        claimed = {job.id: job for job in outbox.claim(10, kinds=["card.update.raw"])}
        outbox.complete(dead.id, Dead("business failure: CARD_NOT_EXIST"))
        outbox.complete(done.id, Done({}))
        assert set(claimed) == {dead.id, done.id}
    return Planted(("upd-1", "open-1", "cancel-1"), "dead-1", "done-1")


def damage_an_index(path: Path) -> None:
    """Overwrite the idempotency index's root page: the integrity check fails, the rows still read."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox_jobs_idempotency'").fetchone()[0]
    db.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)


def damage_page_holding(path: Path, marker: bytes) -> int:
    """Overwrite the page that holds `marker` (a table page: its rows are gone); returns the page number."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = path.read_bytes()
    offset = data.index(marker)
    page = offset // page_size
    with path.open("r+b") as file:
        file.seek(page * page_size)
        file.write(b"\xa5" * page_size)
    return page + 1
