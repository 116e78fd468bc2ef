"""Sample status data for the page tests: every field filled, so a missing section shows up."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.web.snapshot import DeadJob, DeviceRow, LogRow, PrintRow, ScanRow, Snapshot

NOW = 1_780_000_000.0


def snapshot(**changes: Any) -> Snapshot:
    base = Snapshot(
        version="1.2.3",
        uptime_seconds=3 * 3600 + 25 * 60,
        store="Store Nanjing Road 12",
        online=True,
        online_since=NOW - 600,
        gateway="https://openapi.alipay.com/gateway.do",
        ecr_connections=2,
        printer_configured=True,
        devices=[
            DeviceRow("printer-front", "printer", "ready", "tcp://192.168.1.50:9100", working=True),
            DeviceRow("scanner-1", "scanner", "disconnected", "no answer on /dev/ttyUSB0"),
        ],
        outbox_counts={"card.open": {"pending": 3, "dead": 1}, "trade.pay": {"done": 41, "in_flight": 2}},
        oldest_pending_age=95.0,
        dead_jobs=[DeadJob(17, "card.open", 8, "ACQ.SYSTEM_ERROR from Alipay", NOW - 60)],
        scans=[ScanRow(NOW - 30, "payment_code", "28**************12", "scanner-1")],
        prints=[
            PrintRow("p-41", "receipt", "printed", "", True),
            PrintRow("p-42", "activation", "failed", "paper out", False),
        ],
        errors=[LogRow(NOW - 5, "ERROR", "agent.jobs", "gateway timed out after 10 s")],
        taken_at=NOW,
    )
    return replace(base, **changes)
