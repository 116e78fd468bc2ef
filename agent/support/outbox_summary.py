"""The outbox as a technician needs to see it: counts, age, size, and the dead jobs. Never payloads.

Opened as an observer like `posagent queue` (no integrity pass, nothing moved, nothing requeued);
a missing database is not created.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.cli.queue import stats_to_json
from agent.daemon.logs import mask_secrets
from agent.storage import database_path
from offline_queue import Outbox, State

MAX_DEAD_JOBS = 500


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def summarize(state_dir: Path) -> dict[str, Any]:
    """The summary; raises OSError/OutboxError/sqlite3 errors, which the bundle records as a note."""
    path = database_path(state_dir)
    if not path.exists():
        return {"database": str(path), "note": "no database (the agent creates it at its first start)"}
    with Outbox.open(path, check_integrity=False, move_corrupt_aside=False) as outbox:
        stats = outbox.stats()
        dead = outbox.list(state=State.DEAD, limit=MAX_DEAD_JOBS)
    summary: dict[str, Any] = {"database": str(path), **stats_to_json(stats)}
    summary["dead_jobs"] = [
        {"id": job.id, "kind": job.kind, "attempts": job.attempts, "created_at": _when(job.created_at),
         "updated_at": _when(job.updated_at), "last_error": mask_secrets(job.last_error or "") or None}
        for job in dead
    ]  # fmt: skip
    if len(dead) == MAX_DEAD_JOBS:
        summary["dead_jobs_note"] = f"only the first {MAX_DEAD_JOBS} dead jobs are listed"
    return summary
