"""Durable sales: every state is written (synchronous=FULL) before the call it leads to."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.storage import open_database

from .machine import FINAL_STATES, OPEN_TRADE_STATES, Sale, SaleState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sales (
    sale_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sales_state ON sales(state);
"""


def _to_row(sale: Sale) -> str:
    data = asdict(sale)
    data["state"] = sale.state.value
    data["history"] = list(sale.history)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _from_row(body: str) -> Sale:
    data: dict[str, Any] = json.loads(body)
    data["state"] = SaleState(data["state"])
    data["history"] = tuple(data.get("history", ()))
    return Sale(**data)


class SaleStore:
    def __init__(self, path: Path) -> None:
        # synchronous=FULL: a power cut must not forget that a trade was sent.
        self._db = open_database(path, _SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def insert(self, sale: Sale, request_hash: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sales (sale_id, state, request_hash, body, updated_at) VALUES (?, ?, ?, ?, ?)",
                (sale.sale_id, sale.state.value, request_hash, _to_row(sale), sale.created_at),
            )

    def save(self, sale: Sale, now: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE sales SET state = ?, body = ?, updated_at = ? WHERE sale_id = ?",
                (sale.state.value, _to_row(sale), now, sale.sale_id),
            )

    def get(self, sale_id: str) -> tuple[Sale, str] | None:
        with self._lock:
            row = self._db.execute("SELECT body, request_hash FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
        return None if row is None else (_from_row(row[0]), row[1])

    def active(self) -> list[Sale]:
        """Sales not yet final (at most one per till in normal operation)."""
        finals = tuple(s.value for s in FINAL_STATES)
        with self._lock:
            rows = self._db.execute(
                f"SELECT body FROM sales WHERE state NOT IN ({','.join('?' * len(finals))}) ORDER BY updated_at",  # noqa: S608
                finals,
            ).fetchall()
        return [_from_row(r[0]) for r in rows]

    def with_open_trades(self) -> list[Sale]:
        return [s for s in self.active() if s.state in OPEN_TRADE_STATES]
