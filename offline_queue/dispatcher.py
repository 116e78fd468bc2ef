"""The asyncio shell that sends due jobs to their handlers and records the outcomes.

Handlers are `async def handler(job) -> Outcome` (Done / RetryLater / Dead / Unknown). A handler
that raises counts as Unknown (it may have reached the other side), so the job is re-sent with
the same key. SQLite calls run in worker threads so the agent's event loop never waits on an
fsync; concurrent completions then share commits (group commit).

Scheduling: at most `concurrency` handlers run at once and at most `rate_limit` of them start per
second; each free slot goes to the next kind in turn (essential kinds first: `Outbox.claim`), and
per-ordering-key order is the store's job (only a key's head is ever due). The loop sleeps
until the next job is due, a job is enqueued, a handler finishes, or `wake()` ("online again")
makes every backing-off job due at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping

from offline_queue.errors import OutboxError
from offline_queue.model import Dead, Done, Job, JobEvent, Outcome, RetryLater, State, Unknown
from offline_queue.outbox import Outbox
from offline_queue.ratelimit import TokenBucket

log = logging.getLogger(__name__)

Handler = Callable[[Job], Awaitable[Outcome]]

DAY = 86_400.0


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 4,
        rate_limit: float | None = None,
        idle_poll: float = 5.0,
        housekeeping_every: float = 60.0,
        done_retention: float = 7 * DAY,
        dead_retention: float | None = 7 * DAY,
    ) -> None:
        """`done_retention` / `dead_retention`: seconds finished / dead jobs are kept before the
        background housekeeping deletes them (None keeps dead jobs until a person purges them)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.outbox = outbox
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self._bucket = TokenBucket(rate_limit, now=time.monotonic()) if rate_limit else None
        self._idle_poll = idle_poll
        self._housekeeping_every = housekeeping_every
        self._done_retention = done_retention
        self._dead_retention = dead_retention
        self._running: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_requested = False
        self._stopping = False
        self._outcomes: list[tuple[int, Outcome, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.sent = 0  # handler calls made (for stats and the bench)

    # ---- control ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Connectivity is back: retry every waiting job now instead of at its backoff time."""
        self._wake_requested = True
        self._poke()

    def stop(self) -> None:
        """Ask `run` to return after the handlers in progress finish."""
        self._stopping = True
        self._poke()

    async def run(self) -> None:
        """Send jobs until `stop()` (or cancellation). Jobs left in flight by a previous process
        are requeued first."""
        await self._serve(until_idle=False)

    async def run_until_idle(self) -> None:
        """Send jobs until none is due and none is running (jobs backing off stay pending)."""
        await self._serve(until_idle=True)

    # ---- the loop --------------------------------------------------------------------------

    async def _serve(self, *, until_idle: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._stopping = False
        unsubscribe = self.outbox.subscribe(self._on_event)
        kinds = tuple(self.handlers)
        next_housekeeping = 0.0
        try:
            await asyncio.to_thread(self.outbox.requeue_in_flight)
            while not self._stopping:
                self._changed.clear()
                if self._wake_requested:
                    self._wake_requested = False
                    await asyncio.to_thread(self.outbox.wake)
                if time.monotonic() >= next_housekeeping:
                    await asyncio.to_thread(self._housekeep)
                    next_housekeeping = time.monotonic() + self._housekeeping_every
                free = self.concurrency - len(self._running)
                try:
                    claimed = await asyncio.to_thread(self.outbox.claim, free, kinds) if free > 0 else []
                except (sqlite3.Error, OutboxError):
                    # A locked or failing disk must not kill the sender: say so, retry shortly.
                    log.exception("outbox claim failed; retrying in %.1fs", self._idle_poll)
                    await asyncio.sleep(self._idle_poll)
                    continue
                for job in claimed:
                    await self._pace()
                    task = asyncio.create_task(self._send(job), name=f"outbox-job-{job.id}")
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                if claimed and len(self._running) < self.concurrency:
                    continue  # there may be more due right now
                if not self._running and until_idle and not claimed:
                    due = await asyncio.to_thread(self.outbox.next_due_at, kinds)
                    if due is None or due > self.outbox.now():
                        return
                    continue
                await self._sleep(kinds)
        finally:
            unsubscribe()
            if self._running:
                # Let in-progress handlers finish so their outcomes are recorded; a cancelled
                # run leaves them in flight, and the next run requeues them.
                await asyncio.gather(*self._running, return_exceptions=True)

    async def _sleep(self, kinds: tuple[str, ...]) -> None:
        assert self._changed is not None
        timeout = self._idle_poll
        if len(self._running) < self.concurrency:
            due = await asyncio.to_thread(self.outbox.next_due_at, kinds)
            if due is not None:
                timeout = max(0.0, min(timeout, due - self.outbox.now()))
        if timeout > 0 and not self._changed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    async def _pace(self) -> None:
        if self._bucket is not None:
            wait = self._bucket.take(time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)

    async def _send(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        self.sent += 1
        try:
            outcome = await handler(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Only the type: exception messages may quote payload values (phone numbers, codes).
            log.error("handler for %s job %s raised %s", job.kind, job.id, type(exc).__name__)
            outcome = Unknown(f"handler raised {type(exc).__name__}")
        if not isinstance(outcome, Done | RetryLater | Dead | Unknown):
            log.error("handler for %s returned %s, not an Outcome", job.kind, type(outcome).__name__)
            outcome = Unknown(f"handler returned {type(outcome).__name__}, not an Outcome")
        await self._record(job.id, outcome)

    async def _record(self, job_id: int, outcome: Outcome) -> None:
        """Queue the outcome for the next batch commit and wait until it is durable."""
        assert self._loop is not None
        recorded: asyncio.Future[None] = self._loop.create_future()
        self._outcomes.append((job_id, outcome, recorded))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_outcomes())
        await recorded

    async def _flush_outcomes(self) -> None:
        # One transaction for every outcome that arrived while the previous one committed.
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await asyncio.to_thread(self.outbox.complete_many, [(job_id, outcome) for job_id, outcome, _ in batch])
            except Exception:
                # Nothing lost: those jobs stay in flight and are requeued at the next start.
                log.exception("could not record the outcomes of %d job(s)", len(batch))
            for _, _, recorded in batch:
                if not recorded.done():
                    recorded.set_result(None)

    def _housekeep(self) -> None:
        try:
            self.outbox.expire_overdue()
            # Small batches, each its own short transaction; bounded per round.
            for _ in range(20):
                if self.outbox.purge_done(self._done_retention) < 500:
                    break
            for _ in range(20 if self._dead_retention is not None else 0):
                if self.outbox.purge_dead(self._dead_retention or 0.0) < 500:
                    break
        except Exception:
            log.exception("outbox housekeeping failed")

    # ---- notifications ---------------------------------------------------------------------

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._poke()

    def _on_event(self, event: JobEvent) -> None:
        # Called in whichever thread committed; only new work matters to the loop.
        if event.state is State.PENDING:
            self._poke()

    def _poke(self) -> None:
        loop, changed = self._loop, self._changed
        if loop is None or changed is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            changed.set()
        else:
            loop.call_soon_threadsafe(changed.set)
