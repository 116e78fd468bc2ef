"""`posagent queue`: look into the durable outbox, retry or purge dead letters, watch a backlog drain.

The daemon owns the outbox; these commands only read it, or change dead letters and finished
jobs, so they are safe while it runs. Payload fields marked sensitive are shown as <sensitive>.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from agent.cli import queue_recover
from agent.cli.common import EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE, add_output_options, fail
from agent.config import ConfigError, load_config
from agent.config.load import CONFIG_ENV, DEFAULT_CONFIG_PATH
from agent.storage import database_path
from offline_queue import CorruptDatabase, Job, Outbox, OutboxError, State, Stats, UnknownJob

DEFAULT_DB = Path("/var/lib/posagent/agent.db")
EXIT_NOT_FOUND = 1

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "queue", help="the durable outbox: status, dead letters, retry, purge, drain", description=__doc__
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help="agent config: its state_dir holds the database (default $POSAGENT_CONFIG "
        "or /etc/posagent/agent.toml, if it exists)"
    )
    common.add_argument("--db", metavar="PATH", help="agent database (overrides the config's state_dir; "
                                                     f"default $POSAGENT_DB, else {DEFAULT_DB})")  # fmt: skip
    add_output_options(common)
    commands = parser.add_subparsers(dest="queue_command", metavar="COMMAND", required=True)

    status = commands.add_parser("status", parents=[common], help="counts per kind and state, oldest pending")
    status.set_defaults(handler=run_status)

    listing = commands.add_parser("list", parents=[common], help="list jobs (newest filters first)")
    listing.add_argument("--state", choices=[s.value for s in State])
    listing.add_argument("--kind")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=run_list)

    show = commands.add_parser("show", parents=[common], help="one job with its attempt history")
    show.add_argument("id", type=int)
    show.set_defaults(handler=run_show)

    retry = commands.add_parser("retry", parents=[common], help="send dead letters again")
    _add_selection(retry)
    retry.set_defaults(handler=run_retry)

    purge = commands.add_parser("purge", parents=[common], help="delete dead letters or old finished jobs")
    _add_selection(purge, done_older_than=True)
    purge.set_defaults(handler=run_purge)

    drain = commands.add_parser("drain", parents=[common], help="watch the backlog empty (the daemon sends)")
    drain.add_argument("--wait", action="store_true", help="wait with a progress bar until nothing is pending")
    drain.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long")
    drain.add_argument("--interval", type=float, default=0.5, metavar="SECONDS", help=argparse.SUPPRESS)
    drain.set_defaults(handler=run_drain)

    queue_recover.register(commands, common)


def _add_selection(parser: argparse.ArgumentParser, *, done_older_than: bool = False) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--id", type=int, action="append", dest="ids", metavar="ID", help="this job (repeatable)")
    group.add_argument("--kind", help="every dead letter of this kind")
    group.add_argument("--all", action="store_true", help="every dead letter")
    if done_older_than:
        group.add_argument(
            "--done-older-than", metavar="AGE", type=parse_age, help="finished jobs older than AGE (30m, 12h, 7d)"
        )


def parse_age(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not an age: {text!r} (use e.g. 90s, 30m, 12h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class _OpenError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def db_path(args: argparse.Namespace) -> Path:
    """--db, then $POSAGENT_DB, then the state_dir of the config (--config, $POSAGENT_CONFIG or the default
    file when it exists), as every other command finds its config; else the default database."""
    explicit = args.db or os.environ.get("POSAGENT_DB")
    if explicit:
        return Path(explicit)
    config_named = getattr(args, "config", None) or os.environ.get(CONFIG_ENV)
    if config_named or DEFAULT_CONFIG_PATH.exists():
        try:
            return database_path(load_config(config_named).paths.state_dir)
        except ConfigError as exc:
            raise _OpenError(EXIT_USAGE, str(exc)) from None
    return DEFAULT_DB


@contextlib.contextmanager
def _open(args: argparse.Namespace) -> Iterator[Outbox]:
    """Open the outbox as an observer: no integrity pass, never move a file, never requeue."""
    path = db_path(args)
    if not path.exists():
        raise _OpenError(EXIT_USAGE, f"no outbox database at {path} (use --config, --db or POSAGENT_DB)")
    try:
        outbox = Outbox.open(path, check_integrity=False, move_corrupt_aside=False)
    except CorruptDatabase as exc:
        raise _OpenError(EXIT_USAGE, str(exc)) from None
    try:
        yield outbox
    finally:
        outbox.close()


def _explained(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn outbox refusals into a clear message and an exit code instead of a traceback."""

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _OpenError as exc:
            return fail(args, exc.code, str(exc))
        except (OutboxError, ValueError) as exc:
            return fail(args, EXIT_USAGE, str(exc))

    return wrapped


# ---- commands -------------------------------------------------------------------------------


@_explained
def run_status(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        stats = outbox.stats()
    if args.json:
        print(json.dumps(stats_to_json(stats), indent=2))
        return EXIT_OK
    print(f"backlog: {stats.backlog} (pending {stats.total(State.PENDING)}, in flight {stats.total(State.IN_FLIGHT)})")
    print(f"dead letters: {stats.total(State.DEAD)}")
    if stats.oldest_pending_age is not None:
        print(f"oldest pending: {_duration(stats.oldest_pending_age)}")
    print(f"database: {stats.db_bytes / 1024:.0f} KiB")
    if stats.counts:
        states = [s.value for s in State]
        print(f"\n{'kind':<24}" + "".join(f"{s:>12}" for s in states))
        for kind, per_state in sorted(stats.counts.items()):
            print(f"{kind:<24}" + "".join(f"{per_state.get(s, 0):>12}" for s in states))
    return EXIT_OK


@_explained
def run_list(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        jobs = outbox.list(state=args.state, kind=args.kind, limit=args.limit)
    if args.json:
        print(json.dumps({"jobs": [job_to_json(job) for job in jobs]}, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not jobs:
        print("no jobs")
    for job in jobs:
        error = f"  {job.last_error}" if job.last_error else ""
        created = _when(job.created_at)
        print(f"{job.id:>8}  {job.kind:<20} {job.state.value:<11} attempts={job.attempts:<3} {created}{error}")
    return EXIT_OK


@_explained
def run_show(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        try:
            job = outbox.get(args.id)
        except UnknownJob:
            return fail(args, EXIT_NOT_FOUND, f"no job {args.id}")
        history = outbox.history(job.id)
    data = job_to_json(job)
    data["history"] = [{"at": _when(a.at), "event": a.event, "detail": a.detail} for a in history]
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return EXIT_OK
    for key in ("id", "kind", "state", "idempotency_key", "ordering_key", "business_time", "attempts",
                "created_at", "next_attempt_at", "deadline", "last_error"):  # fmt: skip
        if data.get(key) is not None:
            print(f"{key:<16} {data[key]}")
    print(f"{'payload':<16} {json.dumps(data['payload'], ensure_ascii=False)}")
    if data.get("result") is not None:
        print(f"{'result':<16} {json.dumps(data['result'], ensure_ascii=False)}")
    print("history:" if history else "history: (none yet)")
    for entry in data["history"]:
        print(f"  {entry['at']}  {entry['event']}" + (f"  {entry['detail']}" if entry["detail"] else ""))
    return EXIT_OK


@_explained
def run_retry(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        count = outbox.retry(ids=args.ids or (), kind=args.kind, all=args.all)
    return _report(args, "retried", count, "dead letter(s) queued again")


@_explained
def run_purge(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        if args.done_older_than is not None:
            count = 0
            while (batch := outbox.purge_done(args.done_older_than)) > 0:
                count += batch
            return _report(args, "purged", count, "finished job(s) deleted")
        count = outbox.purge(ids=args.ids or (), kind=args.kind, all=args.all)
    return _report(args, "purged", count, "dead letter(s) deleted")


@_explained
def run_drain(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        if not args.wait:
            backlog = outbox.stats().backlog
            return _report(args, "backlog", backlog, "job(s) pending (the daemon sends them; --wait to watch)")
        return watch_drain(outbox, timeout=args.timeout, interval=args.interval, json_output=args.json)


def watch_drain(
    outbox: Outbox,
    *,
    timeout: float | None,
    interval: float,
    json_output: bool,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Poll the backlog until it is empty, drawing a progress bar on stderr."""
    stream = out or sys.stderr
    started = time.monotonic()
    highest = 0
    bar = ProgressBar(stream)
    while True:
        stats = outbox.stats()
        backlog = stats.backlog
        highest = max(highest, backlog)
        bar.draw(done=highest - backlog, total=highest, note=_drain_note(stats))
        if backlog == 0:
            bar.finish()
            if json_output:
                print(json.dumps({"ok": True, "backlog": 0, "dead": stats.total(State.DEAD)}))
            return EXIT_OK
        if timeout is not None and time.monotonic() - started >= timeout:
            bar.finish()
            message = f"{backlog} job(s) still pending after {timeout:g}s (is the daemon running and online?)"
            if json_output:
                print(json.dumps({"ok": False, "backlog": backlog, "error": {"message": message}}))
            else:
                print(f"error: {message}", file=sys.stderr)
            return EXIT_TRANSIENT
        sleep(interval)


class ProgressBar:
    """A one-line text bar redrawn in place on a terminal; plain lines on changes otherwise."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last = ""

    def draw(self, *, done: int, total: int, note: str) -> None:
        filled = self.width if total == 0 else self.width * done // total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} sent  {note}"
        if line == self._last:
            return
        self._last = line
        self.stream.write(f"\r{line}\033[K" if self.tty else f"{line}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ---- helpers --------------------------------------------------------------------------------


def _report(args: argparse.Namespace, key: str, count: int, what: str) -> int:
    if args.json:
        print(json.dumps({"ok": True, key: count}))
    else:
        print(f"{count} {what}")
    return EXIT_OK


def stats_to_json(stats: Stats) -> dict[str, Any]:
    return {
        "backlog": stats.backlog,
        "counts": stats.counts,
        "totals": {s.value: stats.total(s) for s in State},
        "oldest_pending_age_s": stats.oldest_pending_age,
        "db_bytes": stats.db_bytes,
    }


def job_to_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state.value,
        "idempotency_key": job.idempotency_key,
        "ordering_key": job.ordering_key,
        "business_time": None if job.business_time is None else _when(job.business_time),
        "attempts": job.attempts,
        "created_at": _when(job.created_at),
        "updated_at": _when(job.updated_at),
        "next_attempt_at": None if job.next_attempt_at is None else _when(job.next_attempt_at),
        "deadline": None if job.deadline is None else _when(job.deadline),
        "last_error": job.last_error,
        "result": job.result,
        "payload": job.payload,  # already redacted by the outbox
    }


def _drain_note(stats: Stats) -> str:
    parts = [f"{stats.backlog} left"]
    if stats.oldest_pending_age is not None:
        parts.append(f"oldest {_duration(stats.oldest_pending_age)}")
    dead = stats.total(State.DEAD)
    if dead:
        parts.append(f"{dead} dead")
    return ", ".join(parts)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
