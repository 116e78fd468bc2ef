"""The agent's database: intact, within its size cap, the outbox draining, dead letters seen to.

Opened as an observer, like `posagent queue`: nothing is moved, requeued or created. A database
that does not exist yet is only a warning (the agent creates it at its first start).
"""

from __future__ import annotations

from pathlib import Path

from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn
from agent.storage import database_path as path_in
from offline_queue import CorruptDatabase, Outbox, OutboxError, State, Stats

NEAR_CAP = 0.8  # warn from 80 % of a cap
STUCK_SECONDS = 3600.0  # a backlog whose oldest job waits this long is not draining


def database_path(ctx: Context) -> Path:
    return path_in(ctx.agent_config.paths.state_dir)


def judge_size(db_bytes: int, max_megabytes: int) -> Finding:
    cap = max_megabytes * 1024 * 1024
    text = f"integrity ok, {db_bytes / 1024 / 1024:.1f} MiB of {max_megabytes} MiB"
    if db_bytes >= cap:
        return fail("database", f"{text}: full, new work is refused",
                    "purge finished jobs (posagent queue purge --done-older-than 1d) or raise "
                    "[outbox] max_db_megabytes")  # fmt: skip
    if db_bytes >= cap * NEAR_CAP:
        return warn("database", f"{text}: nearly full", "posagent queue purge --done-older-than 1d")
    return ok("database", text)


def judge_outbox(stats: Stats, max_pending: int) -> Finding:
    backlog, dead = stats.backlog, stats.total(State.DEAD)
    text = f"backlog {backlog}, dead {dead}"
    if stats.oldest_pending_age is not None:
        text += f", oldest pending {stats.oldest_pending_age / 60:.0f} min"
    if backlog >= max_pending:
        return fail("outbox", f"{text}: full (max_pending {max_pending}), new work is refused",
                    "restore the gateway connection; watch it drain: posagent queue drain --wait")  # fmt: skip
    if backlog >= max_pending * NEAR_CAP:
        return warn("outbox", f"{text}: near max_pending {max_pending}", "check the gateway finding")
    if stats.oldest_pending_age is not None and stats.oldest_pending_age > STUCK_SECONDS:
        return warn("outbox", f"{text}: not draining", "check the gateway and signature findings and the service")
    if dead:
        return warn("outbox", f"{text}: jobs gave up and wait for a person",
                    "posagent queue list --state dead; then posagent queue retry --id N (or purge)")  # fmt: skip
    return ok("outbox", text)


def check_database(ctx: Context) -> list[Finding]:
    path = database_path(ctx)
    settings = ctx.agent_config.outbox
    if not path.exists():
        return [warn("database", f"{path} does not exist yet", "start the agent once: it creates the database")]
    try:
        # check_integrity runs PRAGMA integrity_check; move_corrupt_aside=False: an observer never moves it.
        outbox = Outbox.open(path, check_integrity=True, move_corrupt_aside=False)
    except CorruptDatabase as exc:
        return [fail("database", f"{path} is corrupt ({exc.detail})",
                     "stop the agent and copy the file for recovery; at its next start the agent moves it aside "
                     f"({path.name}.corrupt-TIME) and starts a new one: pending jobs in it need recovering "
                     "by hand (sqlite3 FILE .recover)")]  # fmt: skip
    except OutboxError as exc:
        return [fail("database", f"cannot open {path}: {exc}", "run the doctor as root or as the service user")]
    try:
        stats = outbox.stats()
    finally:
        outbox.close()
    return [judge_size(stats.db_bytes, settings.max_db_megabytes), judge_outbox(stats, settings.max_pending)]
