"""The daemon's recent log lines for the bundle: its rotating files and, where there is one, the journal.

Only regular files named like the daemon's (agent.log, agent.log.1, ...) are read, never through a
symlink, newest first, within a time window and a size budget (the newest lines win).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agent.daemon.logs import mask_secrets

from .facts import UNIT, Runner, run_command

MAX_LOG_BYTES = 5 * 1024 * 1024
JOURNAL_TIMEOUT = 20.0
_NAME = re.compile(r"^agent\.log(?:\.(\d+))?$", re.ASCII)


@dataclass
class CollectedLogs:
    files: dict[str, str] = field(default_factory=dict)  # name inside logs/ -> text (masked)
    notes: list[str] = field(default_factory=list)  # what could not be collected, and why
    journal: str = "not collected"  # one line for README.txt
    lines: int = 0


def _line_time(line: str) -> float | None:
    head = line.split(" ", 1)[0]
    if len(head) < 19 or head[4:5] != "-":
        return None
    try:
        return datetime.fromisoformat(head).timestamp()
    except ValueError:
        return None


def within(text: str, since: float) -> list[str]:
    """Lines stamped at or after `since`; unstamped lines (tracebacks) follow the record they belong to."""
    kept: list[str] = []
    keep = True
    for line in text.splitlines():
        stamp = _line_time(line)
        if stamp is not None:
            keep = stamp >= since
        if keep:
            kept.append(line)
    return kept


def _tail(lines: list[str], budget: int) -> list[str]:
    out: list[str] = []
    used = 0
    for line in reversed(lines):
        used += len(line.encode("utf-8", errors="replace")) + 1
        if used > budget:
            break
        out.append(line)
    out.reverse()
    return out


def _log_files(directory: Path) -> list[Path]:
    """The daemon's files, newest first: agent.log, agent.log.1, agent.log.2, ..."""
    found: list[tuple[int, Path]] = []
    for entry in directory.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1) or 0), entry))
    return [path for _, path in sorted(found)]


def _read_tail(path: Path, budget: int) -> str | None:
    """The last `budget` bytes of a regular file, not following symlinks; None when it is not one."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(0, info.st_size - budget)
        os.lseek(fd, start, os.SEEK_SET)
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1024 * 1024):
            chunks.append(chunk)
    finally:
        os.close(fd)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return text.split("\n", 1)[1] if start > 0 and "\n" in text else text  # drop a cut first line


def collect_files(directory: Path, since: float, result: CollectedLogs, budget: int) -> int:
    """Add the log files' recent lines to `result`; returns the budget left."""
    try:
        files = _log_files(directory)
    except FileNotFoundError:
        result.notes.append(f"logs: no log directory {directory} (the daemon writes there from this version on)")
        return budget
    except OSError as exc:
        result.notes.append(f"logs: cannot read {directory}: {exc.strerror}")
        return budget
    for path in files:
        if budget <= 0:
            result.notes.append(f"logs: {path.name} and older left out (over {MAX_LOG_BYTES // 1024 // 1024} MiB)")
            break
        try:
            text = _read_tail(path, budget)
        except OSError as exc:
            result.notes.append(f"logs: cannot read {path}: {exc.strerror}")
            continue
        if text is None:
            result.notes.append(f"logs: {path} is not a regular file: left out")
            continue
        lines = _tail(within(text, since), budget)
        if not lines:
            continue
        body = "\n".join(mask_secrets(line) for line in lines) + "\n"
        budget -= len(body.encode("utf-8"))
        result.files[path.name] = body
        result.lines += len(lines)
    return budget


def collect_journal(since: float, result: CollectedLogs, budget: int, run: Runner) -> None:
    if shutil.which("journalctl") is None:
        result.journal = "journalctl not found on this PC: journal not included"
        return
    argv = ["journalctl", "-u", UNIT, "--since", f"@{int(since)}", "-o", "short-iso", "--no-pager"]
    try:
        code, out, err = run(argv, JOURNAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        result.journal = f"journalctl did not answer within {JOURNAL_TIMEOUT:g}s: journal not included"
        result.notes.append(f"logs: {result.journal}")
        return
    except OSError as exc:
        result.journal = f"journalctl could not run ({exc.strerror}): journal not included"
        result.notes.append(f"logs: {result.journal}")
        return
    if code != 0:
        detail = err.strip().splitlines()[-1] if err.strip() else f"exit code {code}"
        result.journal = f"journalctl failed ({detail}): journal not included"
        result.notes.append(f"logs: {result.journal}")
        return
    lines = _tail(out.splitlines(), max(budget, 0))
    result.files["journal.txt"] = "\n".join(mask_secrets(line) for line in lines) + "\n"
    result.lines += len(lines)
    result.journal = f"logs/journal.txt: {' '.join(argv)} ({len(lines)} lines)"


def collect_logs(state_dir: Path, since: float, *, journal: bool = True, run: Runner = run_command) -> CollectedLogs:
    result = CollectedLogs()
    collect_files(state_dir / "logs", since, result, MAX_LOG_BYTES)
    if journal:
        collect_journal(since, result, MAX_LOG_BYTES, run)  # its own budget: it may be all there is
    return result
