"""The daemon's side of the status page: what it shows, and its two buttons.

It reads the same state the ECR sees (devices, connectivity, outbox, print queue) and keeps two
small memories of its own: the last scans (masked) and the last warnings (masked, `RecentLog`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.web import ActionRefused, DeadJob, DeviceRow, FleetRow, OriginRow, PrintRow, ScanRow, Snapshot
from agent.web.slip_preview import preview
from drivers.addresses import display_address, redact_urls
from drivers.printer.slip import SelfTestSlip, SlipError, self_test_slip
from offline_queue import OutboxError, State

from .devices import PrinterUnavailableError, Scan, is_working
from .fleet_link.state import LinkPhase
from .recent_log import RecentLog

if TYPE_CHECKING:
    from .app import Agent

log = logging.getLogger(__name__)

KEEP_SCANS = 20
SHOW_PRINTS = 10
SHOW_DEAD = 20


class AgentStatus:
    def __init__(self, agent: Agent, recent_log: RecentLog, metrics: Callable[[], bytes]) -> None:
        self.agent = agent
        self.recent_log = recent_log
        self._metrics = metrics
        self._scans: deque[ScanRow] = deque(maxlen=KEEP_SCANS)

    def scanned(self, scan: Scan) -> None:
        body = scan.event_body()
        self._scans.appendleft(ScanRow(scan.at, scan.classification.kind.value, str(body["masked"]),
                                       display_address(scan.device)))  # fmt: skip

    # --- StatusSource ---------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        """Memory state read here, on the event loop that changes it; the database in a thread."""
        counts, oldest, dead, outbox_error = await asyncio.to_thread(self._outbox)
        agent = self.agent
        network = agent.connectivity.status()
        queue = agent.devices.queue
        prints = [PrintRow(j.id, j.kind, j.state.value, redact_urls(j.reason or ""),
                           agent.devices.slip(j.id) is not None)
                  for j in (queue.jobs() if queue is not None else [])[-SHOW_PRINTS:][::-1]]  # fmt: skip
        config = agent.config
        return Snapshot(
            version=agent.version, uptime_seconds=time.time() - agent.started_at,
            store=f"{config.store.name or 'Store'} ({config.store.id}/{config.store.till_id})",
            online=bool(network["online"]), online_since=float(network["since"] or 0.0),  # type: ignore[arg-type]
            gateway=str(network["gateway"]), ecr_connections=len(agent.server.connections),
            printer_configured=config.printer is not None,
            devices=[DeviceRow(display_address(d["device"]), d["kind"], d["state"], redact_urls(d["detail"]),
                               is_working(d["kind"], d["state"])) for d in agent.devices.statuses()],
            outbox_counts=counts, oldest_pending_age=oldest, outbox_error=outbox_error, dead_jobs=dead,
            scans=list(self._scans), prints=prints, errors=self.recent_log.rows(), taken_at=time.time(),
            fleet=self._fleet(), origins=self._origins(),
        )  # fmt: skip

    def _origins(self) -> list[OriginRow] | None:
        listener = self.agent.websocket
        if listener is None:
            return None
        book = listener.book()
        book.expire(time.time())
        live = Counter(c.origin for c in self.agent.server.connections if c.origin and c.authenticated)
        rows = [OriginRow(p.origin, p.paired_at, p.last_used, live[p.origin], p.origin in book.pending)
                for p in book.paired.values()]  # fmt: skip
        rows += [OriginRow(o, 0.0, None, 0, pending_code=True) for o in book.pending if o not in book.paired]
        return sorted(rows, key=lambda row: row.origin)

    def _fleet(self) -> FleetRow | None:
        link = self.agent.fleet
        if link is None:
            return None
        s = link.state
        problem = s.last_error if s.phase is not LinkPhase.CONNECTED or not s.subscribed else None
        return FleetRow(s.phase.value, s.since, s.broker, s.subscribed, s.last_delivery, problem or "", s.received,
                        sum(s.dropped.values()), s.retrying)  # fmt: skip

    def _outbox(self) -> tuple[dict[str, dict[str, int]], float | None, list[DeadJob], str]:
        outbox = self.agent.outbox
        try:
            stats = outbox.stats()
            dead = [DeadJob(j.id, j.kind, j.attempts, redact_urls(j.last_error or ""), j.updated_at)
                    for j in outbox.list(state=State.DEAD, limit=SHOW_DEAD)]  # fmt: skip
        except (OutboxError, sqlite3.Error) as exc:
            return {}, None, [], f"the outbox cannot be read: {exc}"
        return stats.counts, stats.oldest_pending_age, dead, ""

    def slip(self, job_id: str | None) -> str | None:
        devices = self.agent.devices
        if job_id is None:
            job_id = devices.latest_slip_id()
            if job_id is None:
                return None
        slip = devices.slip(job_id)
        if slip is None or devices.profile is None:
            return None
        return preview(slip, devices.profile)

    async def retry_dead_job(self, job_id: int) -> bool:
        try:
            count = await asyncio.to_thread(self.agent.outbox.retry, ids=[job_id])
        except OutboxError:
            return False
        if count:
            self.agent.dispatcher.wake()
        return count > 0

    async def test_print(self) -> str:
        devices = self.agent.devices
        try:
            queue, profile = devices.require_printer()
        except PrinterUnavailableError as exc:
            raise ActionRefused(str(exc)) from None
        state = devices.printer_state() or {}
        job_id = f"test-{secrets.token_hex(4)}"
        printer = self.agent.config.printer
        slip = SelfTestSlip(printer.uri if printer else "", f"POSAGENT-TEST-{job_id}",
                            f"{state.get('state', 'unknown')} {state.get('detail', '')}".strip(),
                            (f"sent from the status page at {time.strftime('%Y-%m-%d %H:%M:%S')}",))  # fmt: skip
        try:
            data = self_test_slip(slip, profile)
        except SlipError as exc:
            raise ActionRefused(f"the test slip cannot be built: {exc}") from None
        devices.remember_slip(job_id, slip)
        queue.submit(data, job_id=job_id, kind="test")
        return job_id

    def metrics(self) -> bytes:
        return self._metrics()
