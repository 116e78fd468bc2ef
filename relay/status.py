"""`posagent fleet status`: read the chain's retained statuses from the broker and list every till, sick first.

The broker sends every retained status right after the subscription is acknowledged; the command waits
until none has arrived for `quiet` seconds (bounded by `limit` in all), so it is quick on a small chain and
complete on a large one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agent.fleet.topics import status_filter

from .config import ViewerConfig
from .fleet_view import FleetView, TillRow
from .mqtt import BrokerLink, BrokerLogin, client_id


class BrokerUnavailable(Exception):
    pass


async def collect(config: ViewerConfig, password: str, *, quiet: float = 0.5, limit: float = 10.0) -> FleetView:
    view = FleetView(config.chain.id)
    last = time.monotonic()

    def take(topic: str, payload: bytes) -> None:
        nonlocal last
        last = time.monotonic()
        view.update(topic, payload)

    broker = config.broker
    login = BrokerLogin(broker.address, broker.username, password, broker.ca_file,
                        client_id(broker.client_id_prefix + "-status"), broker.keepalive_seconds)  # fmt: skip
    link = BrokerLink(login, status_filter=status_filter(config.chain.id), on_status=take)
    deadline = time.monotonic() + limit
    link.start()
    try:
        try:
            await asyncio.wait_for(link.subscribed.wait(), limit)
        except TimeoutError:
            why = f"the broker refused the login: {link.last_refusal}" if link.last_refusal else "no answer in time"
            raise BrokerUnavailable(f"cannot read the statuses from {broker.address} as {broker.username} "
                                    f"({why})") from None  # fmt: skip
        last = time.monotonic()
        while (now := time.monotonic()) < deadline and now - last < quiet:
            await asyncio.sleep(min(quiet / 5, deadline - now))
    finally:
        await link.stop()
    return view


# --- rendering (pure) -------------------------------------------------------------------------------


def row_json(row: TillRow) -> dict[str, Any]:
    status = row.status
    body: dict[str, Any] = {"store": row.till.store, "till": row.till.till, "healthy": row.healthy,
                            "problems": list(row.problems), "seen": status is not None}  # fmt: skip
    if status is not None:
        body.update({
            "online": status.online, "reason": status.reason, "at": status.at, "version": status.version,
            "alipay_online": status.alipay_online,
            "outbox": {"pending": status.outbox_pending, "dead": status.outbox_dead,
                       "oldest_pending_age": status.oldest_pending_age},
            "devices": [{"device": d.device, "kind": d.kind, "state": d.state} for d in status.devices],
            "last_error": status.last_error,
        })  # fmt: skip
    return body


def report_json(chain: str, rows: list[TillRow]) -> dict[str, Any]:
    sick = sum(1 for row in rows if not row.healthy)
    return {"chain": chain, "tills": [row_json(row) for row in rows],
            "summary": {"tills": len(rows), "sick": sick, "healthy": len(rows) - sick,
                        "stores": len({row.till.store for row in rows})}}  # fmt: skip


def report_text(chain: str, rows: list[TillRow]) -> str:
    if not rows:
        return f"chain {chain}: no till has published a status (and no key is provisioned here)"
    header = ("STORE", "TILL", "STATE", "VERSION", "PENDING", "DEAD", "WHAT IS WRONG")
    lines = [header]
    for row in rows:
        status = row.status
        state = "never seen" if status is None else "online" if status.online else "offline"
        lines.append((row.till.store, row.till.till, state, (status.version if status else None) or "-",
                      str(status.outbox_pending) if status else "-", str(status.outbox_dead) if status else "-",
                      "; ".join(row.problems) or "ok"))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
           for line in lines]  # fmt: skip
    sick = sum(1 for row in rows if not row.healthy)
    out.append(f"chain {chain}: {len(rows)} till(s) in {len({r.till.store for r in rows})} store(s), {sick} sick")
    return "\n".join(out)
