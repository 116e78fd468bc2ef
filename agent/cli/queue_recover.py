"""`posagent queue recover FILE`: send again the jobs of a database the agent moved aside as corrupt.

At start the agent moves a corrupt database to `agent.db.corrupt-TIME` and begins a new one; the jobs
still waiting in the old file (points, card openings, payment reversals) are not sent until they are
recovered. This reads what it can from a copy of FILE (FILE itself is not written) and queues each
pending job in the live outbox under its own idempotency key: a job the live outbox already holds is
not doubled, and Alipay recognises a call it already carried out. Dead jobs are left out unless
--include-dead (they are then tried again). Safe while the agent runs (it picks them up within
seconds) and safe to run twice. When everything was recovered, FILE is renamed FILE.recovered-TIME
(kept) so that the doctor stops reporting it.

Exit codes: 0 all recovered; 1 some jobs need a person (conflicting or unreadable: see the message);
2 bad arguments, config or FILE; 4 the live outbox is full (run again once it drained).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from agent.cli.common import EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE, fail
from agent.config import ConfigError, load_config
from agent.daemon.app import auth_code_lifetime_of, outbox_policies
from agent.storage import database_path
from offline_queue import Caps, KeyFileError, Outbox, OutboxError, load_key_file
from offline_queue.salvage import TO_SEND, mark_recovered, read_jobs, recover

EXIT_NEEDS_A_PERSON = 1


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "recover", parents=[common], help="queue again the jobs of a database moved aside as corrupt",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("file", type=Path, metavar="FILE", help="the moved-aside file (agent.db.corrupt-TIME)")
    parser.add_argument("--include-dead", action="store_true", help="also send the dead jobs again")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be recovered")
    parser.set_defaults(handler=run_recover)


def run_recover(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return fail(args, EXIT_USAGE, str(exc))
    live = Path(args.db or os.environ.get("POSAGENT_DB") or database_path(config.paths.state_dir))
    source: Path = args.file
    if not source.is_file():
        return fail(args, EXIT_USAGE, f"{source} is not a file")
    if source.resolve() == live.resolve():
        return fail(args, EXIT_USAGE, f"{source} is the live database: give the moved-aside file")
    if not live.exists():
        return fail(args, EXIT_USAGE, f"no live database at {live}: start the agent once (it makes it), then run "
                                      "this again")  # fmt: skip
    salvage = read_jobs(source)
    if salvage.error is not None:
        return fail(args, EXIT_USAGE, f"{source} cannot be read ({salvage.error}); keep it for the developers")
    states = (*TO_SEND, "dead") if args.include_dead else TO_SEND
    wanted = salvage.count(states)
    facts: dict[str, Any] = {"file": str(source), "database": str(live), "readable_jobs": len(salvage.jobs),
                             "to_recover": wanted, "unreadable_rows": salvage.unreadable_rows,
                             "dead_left_out": 0 if args.include_dead else salvage.count(("dead",)),
                             "without_wal": not salvage.with_wal}  # fmt: skip
    if args.dry_run:
        return _report(args, facts, f"{wanted} job(s) in {source} would be queued again "
                                    f"({_describe(salvage.by_state())})")  # fmt: skip
    try:
        cipher = load_key_file(config.outbox.key_file)
        caps = Caps(max_pending=config.outbox.max_pending, max_db_bytes=config.outbox.max_db_megabytes * 1024 * 1024)
        outbox = Outbox.open(live, key_file=config.outbox.key_file,
                             policies=outbox_policies(auth_code_lifetime_of(config)), caps=caps,
                             check_integrity=False, move_corrupt_aside=False)  # fmt: skip
    except KeyFileError as exc:
        return fail(args, EXIT_USAGE, f"outbox.key_file: {exc}")
    except OutboxError as exc:
        return fail(args, EXIT_USAGE, str(exc))
    owner = live.stat()
    try:
        result = recover(salvage, outbox, cipher, states)
    finally:
        outbox.close()
        _keep_owner(live, owner)
    facts.update(imported=len(result.imported), already_there=result.already_there, conflicts=result.conflicts,
                 unreadable_payloads=result.unreadable, refused=result.refused)  # fmt: skip
    if result.complete and salvage.unreadable_rows == 0:
        facts["renamed_to"] = str(mark_recovered(source, time.strftime("%Y%m%dT%H%M%S", time.gmtime())))
    text = (f"{len(result.imported)} job(s) queued again from {source}; {result.already_there} were already in the "
            "live outbox")  # fmt: skip
    problems = []
    if result.conflicts:
        problems.append(f"{result.conflicts} conflict with a different job under the same key in the live outbox "
                        "(left alone)")  # fmt: skip
    if result.unreadable:
        problems.append(f"{result.unreadable} cannot be opened with this outbox key")
    if salvage.unreadable_rows:
        problems.append(f"{salvage.unreadable_rows} row(s) of the file are damaged beyond reading")
    if result.refused:
        problems.append(f"the live outbox refused more: {result.refused}; run this again once it drained")
    if facts["dead_left_out"]:
        text += f"; {facts['dead_left_out']} dead job(s) left out (--include-dead sends them again)"
    if "renamed_to" in facts:
        text += f"; the file is now {facts['renamed_to']}"
    code = EXIT_TRANSIENT if result.refused else EXIT_NEEDS_A_PERSON if problems else EXIT_OK
    facts["ok"] = code == EXIT_OK
    return _report(args, facts, "; ".join([text, *problems]), code)


def _keep_owner(live: Path, owner: os.stat_result) -> None:
    """Run as root, SQLite may leave a -wal or -shm the service cannot write: give them the database's owner."""
    if os.geteuid() != 0:
        return
    for side in (live, Path(f"{live}-wal"), Path(f"{live}-shm")):
        try:
            if side.stat().st_uid != owner.st_uid or side.stat().st_gid != owner.st_gid:
                os.chown(side, owner.st_uid, owner.st_gid)
        except OSError:
            continue


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no jobs"


def _report(args: argparse.Namespace, facts: dict[str, Any], text: str, code: int = EXIT_OK) -> int:
    facts.setdefault("ok", code == EXIT_OK)
    if args.json:
        print(json.dumps(facts, ensure_ascii=False, indent=2))
    else:
        print(text)
    return code
