"""The agent's state: its folder and disk, the database intact and within its cap, the outbox draining,
dead letters seen to, and databases moved aside as corrupt with the jobs still waiting in them.

Opened as an observer, like `posagent queue`: nothing is moved, requeued or created (a moved-aside
file is read from a copy). A database that does not exist yet is only a warning when the agent can
make it (it does at its first start).
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.daemon.preflight import (
    DISK_FIX,
    MIN_FREE_BYTES,
    Identity,
    disk_full_text,
    free_bytes,
    mount_point,
    state_dir_problems,
)
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn
from agent.storage import database_path as path_in
from agent.storage import is_storage_full
from offline_queue import CorruptDatabase, Outbox, OutboxError, State, Stats
from offline_queue.salvage import TO_SEND, Salvage, moved_aside, read_jobs

NEAR_CAP = 0.8  # warn from 80 % of a cap
STUCK_SECONDS = 3600.0  # a backlog whose oldest job waits this long is not draining
LOW_DISK_BYTES = 64 * 1024 * 1024  # warn below this: a day of outbox and logs still fits, not much more


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
                    "restore the gateway connection (see the gateway finding) and watch it drain: posagent queue "
                    "drain --wait; or raise [outbox] max_pending")  # fmt: skip
    if backlog >= max_pending * NEAR_CAP:
        return warn("outbox", f"{text}: near max_pending {max_pending}", "check the gateway finding")
    if stats.oldest_pending_age is not None and stats.oldest_pending_age > STUCK_SECONDS:
        return warn("outbox", f"{text}: not draining", "check the gateway and signature findings and the service")
    if dead:
        return warn("outbox", f"{text}: jobs gave up and wait for a person",
                    "posagent queue list --state dead; then posagent queue retry --id N (or purge)")  # fmt: skip
    return ok("outbox", text)


def service_identity(ctx: Context) -> Identity:
    """Permissions are judged for the service user when it exists here and the config is the service's, else
    for whoever runs the doctor (who runs a development config)."""
    return (Identity.user(ctx.service_user) if ctx.judges_service else None) or Identity.current()


def judge_state_dir(state_dir: Path, who: Identity) -> Finding:
    problems = state_dir_problems(state_dir, who)
    if problems:  # the very words `posagent run` refuses with
        return fail("state_dir", problems[0].message, problems[0].fix)
    if not state_dir.exists():
        return ok("state_dir", f"{state_dir} does not exist yet; {who.name} can make it (the agent does at start)")
    return ok("state_dir", f"{state_dir} is a directory {who.name} can write")


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB" if count < 1024**3 else f"{count / 1024**3:.1f} GiB"


def judge_disk(state_dir: Path, free: int | None) -> Finding:
    if free is None:
        return warn("disk", f"free space under {state_dir} not known (the folder cannot be reached)",
                    "see the state_dir finding")  # fmt: skip
    if free < MIN_FREE_BYTES:
        return fail("disk", disk_full_text(state_dir, free) + ": the database cannot grow", DISK_FIX)
    where = mount_point(state_dir)
    if free < LOW_DISK_BYTES:
        return warn("disk", f"low disk space on {where}: {_size(free)} left", DISK_FIX)
    return ok("disk", f"{_size(free)} free on {where}")


def judge_moved(salvage: Salvage) -> Finding:
    """A database the agent moved aside as corrupt: how many jobs wait in it, and how to send them."""
    path = salvage.path
    name = f"database.moved:{path.name}"
    if salvage.error is not None:
        return warn(name, f"{path} was moved aside as corrupt and cannot be read ({salvage.error})",
                    "keep it for the developers (sqlite3 FILE .recover may get more out of it)")  # fmt: skip
    to_send, dead = salvage.count(TO_SEND), salvage.count(("dead",))
    at_least = "" if salvage.with_wal and not salvage.unreadable_rows else "at least "
    text = f"{path} was moved aside as corrupt: {at_least}{to_send} job(s) in it were still to be sent, {dead} dead"
    if salvage.unreadable_rows:
        text += f" ({salvage.unreadable_rows} damaged row(s) cannot be read)"
    if to_send:  # points, card openings or payment reversals nobody sends until they are recovered
        return fail(name, text, f"queue them again (safe, no duplicates): posagent queue recover {path}")
    if dead:
        return warn(name, text, f"to try the dead ones again: posagent queue recover --include-dead {path}; "
                                "or keep the file for the developers")  # fmt: skip
    return ok(name, f"{path} was moved aside as corrupt; no job in it waits to be sent (keep it for the developers "
                    "or delete it)")  # fmt: skip


def check_database(ctx: Context) -> list[Finding]:
    path = database_path(ctx)
    settings = ctx.agent_config.outbox
    state_dir = ctx.agent_config.paths.state_dir
    who = service_identity(ctx)
    state = judge_state_dir(state_dir, who)
    findings = [state, judge_disk(state_dir, free_bytes(state_dir))]
    if state_dir.is_dir():
        findings += [judge_moved(read_jobs(moved)) for moved in moved_aside(path)]
    if not path.exists():
        if state.status.value == "FAIL":
            findings.append(fail("database", f"{path} does not exist and cannot be made: see the state_dir finding",
                                 state.fix))  # fmt: skip
        else:
            findings.append(warn("database", f"{path} does not exist yet", "start the agent once: it creates it"))
        return findings
    try:
        # check_integrity runs PRAGMA integrity_check; move_corrupt_aside=False: an observer never moves it.
        outbox = Outbox.open(path, check_integrity=True, move_corrupt_aside=False)
    except CorruptDatabase as exc:
        findings.append(fail("database", f"{path} is corrupt ({exc.detail})",
                             "stop the agent and copy the file for safety; at its next start the agent moves it aside "
                             f"({path.name}.corrupt-TIME) and starts a new one; then: posagent queue recover "
                             f"{path}.corrupt-TIME sends its pending jobs again"))  # fmt: skip
        return findings
    except OutboxError as exc:
        findings.append(judge_open_error(path, exc, state))
        return findings
    except RuntimeError as exc:  # the outbox schema is newer than this agent (a rollback)
        findings.append(fail("database", f"{path}: {exc}", "run the release that wrote it, or restore the copy kept "
                                                          "before the upgrade (docs/operations.md, Upgrade and "
                                                          "rollback)"))  # fmt: skip
        return findings
    try:
        stats = outbox.stats()
    finally:
        outbox.close()
    return [*findings, judge_size(stats.db_bytes, settings.max_db_megabytes), judge_outbox(stats, settings.max_pending)]


def judge_open_error(path: Path, exc: OutboxError, state: Finding) -> Finding:
    """Why the database does not open, with the fix for that cause (not always "run as root")."""
    if is_storage_full(exc):
        return fail("database", f"cannot open {path}: {disk_full_text(path)}", DISK_FIX)
    if state.status.value == "FAIL":  # read-only file system, someone else's folder: the state_dir finding's fix
        return fail("database", f"cannot open {path}: {exc}", state.fix)
    if os.geteuid() != 0 and not os.access(path, os.R_OK | os.W_OK):
        return fail("database", f"cannot open {path}: {exc}", "run the doctor as root or as the service user")
    return fail("database", f"cannot open {path}: {exc}", "send the doctor's output to the developers")
