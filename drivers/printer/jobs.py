"""A print queue per printer: job ids, states, one job at a time, change callbacks (asyncio).

    queue = PrintQueue(Printer(make_transport("tcp://127.0.0.1:9100")), on_change=push_event)
    async with queue:
        job = queue.submit(slip_bytes, job_id="j-1", kind="activation")
        job = await queue.wait("j-1")          # state printed or failed

States: queued -> printing -> printed | failed. The blocking I/O runs in a worker thread, one
job at a time. A failed job carries `any_sent`: if False, nothing reached the printer and
`retry()` re-queues it; if True the printer may have printed part or all of it, and `retry()`
refuses unless forced (the classic double print comes from re-sending such a job).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any

from drivers.printer.errors import PrinterError
from drivers.printer.printer import Outcome, Printer
from drivers.printer.status import PrinterStatus

log = logging.getLogger(__name__)

PARTIAL_REASON = "partially printed: check the slip before reprinting"
HELD_REASON = "sent, but the printer reports {problem}: it may finish the slip once fixed; check it before reprinting"
KEEP_FINISHED = 500  # finished jobs remembered for look-ups (memory stays bounded)


class JobState(StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (JobState.PRINTED, JobState.FAILED)


class JobConflict(ValueError):
    """A job id reused for different data."""


class ReprintRefused(PrinterError):
    """Re-sending a job the printer may already have printed (in part) needs force=True."""

    code = "PRINTER_REPRINT_REFUSED"


@dataclass
class PrintJob:
    id: str
    kind: str
    data: bytes = field(repr=False)  # released once printed (memory stays small); kept for retries
    size: int = 0
    digest: str = field(default="", repr=False)  # recognises a resent submit after the data is gone
    state: JobState = JobState.QUEUED
    bytes_sent: int = 0
    any_sent: bool = False
    error_code: str | None = None
    reason: str | None = None
    status: PrinterStatus | None = None  # the last status the printer gave for this job
    attempts: int = 0

    def __post_init__(self) -> None:
        self.size = self.size or len(self.data)
        self.digest = self.digest or hashlib.sha256(self.data).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.id, "kind": self.kind, "state": self.state.value, "bytes": self.size,
            "bytes_sent": self.bytes_sent, "any_sent": self.any_sent, "error_code": self.error_code,
            "reason": self.reason, "attempts": self.attempts,
            "status": self.status.to_json() if self.status is not None else None,
        }  # fmt: skip


ChangeCallback = Callable[[PrintJob], None]


def apply_outcome(job: PrintJob, outcome: Outcome) -> None:
    """Record how a job ended (pure)."""
    job.bytes_sent = outcome.bytes_sent
    job.any_sent = outcome.any_sent
    job.status = outcome.status_after if outcome.bytes_sent else outcome.status_before
    if outcome.printed:
        job.state, job.error_code, job.reason = JobState.PRINTED, None, None
        return
    job.state = JobState.FAILED
    error = outcome.error
    job.error_code = error.code if error is not None else "PRINTER_ERROR"
    if not outcome.any_sent:
        job.reason = f"not printed: {error}" if error is not None else "not printed"
    elif outcome.bytes_sent == job.size and job.status is not None and job.status.problem is not None:
        job.reason = HELD_REASON.format(problem=job.status.summary())
    else:
        job.reason = PARTIAL_REASON


class PrintQueue:
    def __init__(self, printer: Printer, on_change: ChangeCallback | None = None) -> None:
        self.printer = printer
        self._on_change = on_change
        self._jobs: OrderedDict[str, PrintJob] = OrderedDict()
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._done: dict[str, asyncio.Event] = {}
        self._io = asyncio.Lock()  # jobs and status queries share one link
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PrintQueue:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name=f"print-queue:{self.printer.name}")

    async def close(self) -> None:
        """Stop after the job in progress (its outcome is recorded; queued jobs stay queued); close the link."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        async with self._io:
            await asyncio.to_thread(self.printer.close)

    # -- jobs ---------------------------------------------------------------------------------

    def submit(self, data: bytes, job_id: str | None = None, kind: str = "raw") -> PrintJob:
        """Queue a job. The same id with the same data returns the existing job (safe to resend)."""
        job_id = job_id or uuid.uuid4().hex
        existing = self._jobs.get(job_id)
        if existing is not None:
            if existing.digest != hashlib.sha256(data).hexdigest():
                raise JobConflict(f"job {job_id!r} already exists with different content")
            return existing
        job = PrintJob(job_id, kind, bytes(data))
        self._jobs[job_id] = job
        self._enqueue(job)
        self._forget_old()
        return job

    def retry(self, job_id: str, force: bool = False) -> PrintJob:
        job = self._jobs[job_id]
        if job.state is not JobState.FAILED:
            raise ValueError(f"job {job_id!r} is {job.state.value}, only failed jobs can be retried")
        if job.any_sent and not force:
            raise ReprintRefused(f"job {job_id!r}: {job.reason}")
        job.state, job.error_code, job.reason, job.bytes_sent, job.any_sent = JobState.QUEUED, None, None, 0, False
        self._enqueue(job)
        return job

    def get(self, job_id: str) -> PrintJob | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[PrintJob]:
        return list(self._jobs.values())

    async def wait(self, job_id: str) -> PrintJob:
        job = self._jobs[job_id]
        await self._done[job_id].wait()
        return job

    async def status(self) -> PrinterStatus:
        """Ask the printer now (between jobs, never in the middle of one)."""
        async with self._io:
            return await asyncio.to_thread(self.printer.status)

    # -- the worker ---------------------------------------------------------------------------

    def _enqueue(self, job: PrintJob) -> None:
        self._done[job.id] = asyncio.Event()
        self._pending.put_nowait(job.id)
        self._notify(job)

    async def _run(self) -> None:
        while True:
            job = self._jobs.get(await self._pending.get())
            if job is None or job.state is not JobState.QUEUED:
                continue
            job.state = JobState.PRINTING
            job.attempts += 1
            self._notify(job)
            async with self._io:
                running = asyncio.ensure_future(asyncio.to_thread(self._run_one, job))
                try:
                    outcome = await asyncio.shield(running)
                except asyncio.CancelledError:
                    # Closing mid-job: the thread cannot be stopped, and its outcome must be recorded
                    # (never leave a job "printing"). The printer's timeouts bound this wait.
                    self._finish(job, await running)
                    raise
            self._finish(job, outcome)

    def _run_one(self, job: PrintJob) -> Outcome:
        try:
            return self.printer.run(job.data)
        except Exception as exc:  # a driver bug must fail the job, not kill the queue
            log.exception("print job %s crashed", job.id)
            return Outcome(False, 0, True, PrinterError(f"internal error: {type(exc).__name__}"))

    def _finish(self, job: PrintJob, outcome: Outcome) -> None:
        apply_outcome(job, outcome)
        if job.state is JobState.PRINTED:
            job.data = b""
        self._notify(job)
        self._done[job.id].set()

    def _notify(self, job: PrintJob) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(job)
        except Exception:  # a listener's bug must not stop printing
            log.exception("print job listener failed")

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state.final]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.id]
            self._done.pop(job.id, None)
