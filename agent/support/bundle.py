"""`build_bundle`: one .tar.gz a field technician sends to support, with nothing secret in it.

Every part is gathered on its own: a part that fails is noted in README.txt and the others still
go in. Every text passes through the `Redactor` just before it is archived; key files, the token
file and the database are never read into the bundle (only the secret values, to remove them).
"""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.cli.doctor import render as render_doctor
from agent.doctor import Report, run_doctor

from . import facts, logfiles, outbox_summary
from .redact import Redactor, redact_config
from .site import Site, load_site
from .toml_text import dumps as toml_dumps

DEFAULT_SINCE_HOURS = 72.0
BUNDLE_MODE = 0o600


class BundleError(Exception):
    """The bundle could not be written at all."""


@dataclass
class BundleResult:
    path: Path
    files: list[str]  # names inside the bundle's folder
    notes: list[str]  # what could not be collected
    summary: str  # one line for the technician


@dataclass
class _Parts:
    files: dict[str, str] = field(default_factory=dict)  # name -> text (not yet redacted)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    def json(self, name: str, data: Any) -> None:
        self.files[name] = json.dumps(_rounded(data), ensure_ascii=False, indent=2, default=str) + "\n"

    def step(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # one broken part must not cost the technician the whole bundle
            self.notes.append(f"{what}: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")


def _rounded(data: Any) -> Any:
    """Floats to 3 decimals: a long fraction would look like a payment code to the masking and be mangled."""
    if isinstance(data, float):
        return round(data, 3)
    if isinstance(data, dict):
        return {key: _rounded(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_rounded(value) for value in data]
    return data


DESCRIPTIONS = {
    "versions.json": "posagent, Python, OS and library versions",
    "config.toml": "the config file with secret settings removed (rebuilt: comments are dropped)",
    "config-error.txt": "why the config file could not be read or parsed (the file itself is left out)",
    "doctor.json": "`posagent doctor --json`: every check with its verdict and fix",
    "doctor.txt": "`posagent doctor`, as a technician reads it",
    "outbox.json": "the outbox: jobs per kind and state, oldest pending, database size, dead jobs (no payloads)",
    "devices.json": "configured devices and what device discovery finds on this PC",
    "environment.json": "disk space, uptime, service state, udev rule, device node owners and modes",
}


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")


def bundle_name(site: Site, now: float) -> str:
    return f"posagent-support-{site.store_id}-{site.till_id}-{_stamp(now)}"


def _config(site: Site, parts: _Parts) -> None:
    if site.raw is None:
        parts.files["config-error.txt"] = f"{site.problem}\n"
        parts.notes.append(f"config: {site.problem}")
        return
    header = f"# {site.config_path}, secret settings removed by posagent support-bundle\n"
    if site.problem:
        header += "# the config is not valid:\n" + "".join(f"#   {line}\n" for line in site.problem.splitlines())
        parts.notes.append("config: not valid (see config.toml)")
    parts.files["config.toml"] = header + "\n" + toml_dumps(redact_config(site.raw))


def _doctor(site: Site, parts: _Parts) -> None:
    report: Report = run_doctor(site.config_path)
    parts.json("doctor.json", report.to_json())
    parts.files["doctor.txt"] = render_doctor(report) + "\n"
    counts = report.counts()
    parts.summary.append("doctor: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n))


def _outbox(site: Site, parts: _Parts) -> None:
    summary = outbox_summary.summarize(site.state_dir)
    parts.json("outbox.json", summary)
    if "backlog" in summary:
        parts.summary.append(f"outbox: backlog {summary['backlog']}, dead {summary['totals']['dead']}")


def _logs(site: Site, parts: _Parts, since: float, run: facts.Runner) -> str:
    collected = logfiles.collect_logs(site.state_dir, since, run=run)
    for name, text in collected.files.items():
        parts.files[f"logs/{name}"] = text
    parts.notes += collected.notes
    parts.summary.append(f"logs: {collected.lines} lines")
    return collected.journal


def _readme(site: Site, parts: _Parts, *, now: float, since_hours: float, journal: str, doctor: bool) -> str:
    lines = [
        "POS Agent support bundle",
        "",
        f"made:     {datetime.fromtimestamp(now, UTC).isoformat(timespec='seconds')} by posagent support-bundle",
        f"on:       {socket.gethostname()} (store {site.store_id}, till {site.till_id})",
        f"config:   {site.config_path}",
        f"state:    {site.state_dir}",
        f"logs:     the last {since_hours:g} hours (at most {logfiles.MAX_LOG_BYTES // 1024 // 1024} MiB per source)",
        f"journal:  {journal}",
        "",
        "Secrets are removed: key files, the token file and the database are never included; the values",
        "of the secret files are removed wherever they appear; payment codes, phone numbers, tokens and",
        "private keys are masked in every file.",
        "",
        "Files:",
        f"  {'README.txt':<24} this file",
    ]
    for file in sorted(parts.files):
        if file.startswith("logs/"):
            what = "the journal of the service" if file == "logs/journal.txt" else "the agent's own log file"
        else:
            what = DESCRIPTIONS.get(file, "")
        lines.append(f"  {file:<24} {what}")
    if not doctor:
        lines += ["", "doctor: skipped (--no-doctor)"]
    lines += ["", "Problems while collecting:" if parts.notes else "Problems while collecting: none"]
    lines += [f"  - {note}" for note in parts.notes]
    return "\n".join(lines) + "\n"


def _write(path: Path, folder: str, files: dict[str, str], now: float) -> None:
    """Write the archive beside its final name, mode 0600 from the start, then move it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BUNDLE_MODE)
    try:
        os.fchmod(fd, BUNDLE_MODE)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            directory = tarfile.TarInfo(folder)
            directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o700, int(now)
            tar.addfile(directory)
            for name, text in files.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size, info.mode, info.mtime = len(data), 0o600, int(now)
                tar.addfile(info, io.BytesIO(data))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def build_bundle(
    config_path: Path,
    output: Path | None = None,
    *,
    doctor: bool = True,
    since_hours: float = DEFAULT_SINCE_HOURS,
    clock: Callable[[], float] = time.time,
    run: facts.Runner = facts.run_command,
) -> BundleResult:
    """Gather, redact and write the bundle; raises BundleError only when nothing could be written."""
    now = clock()
    site = load_site(config_path)
    name = bundle_name(site, now)
    parts = _Parts()
    parts.step("versions", lambda: parts.json("versions.json", facts.versions()))
    parts.step("config", lambda: _config(site, parts))
    if doctor:
        parts.step("doctor", lambda: _doctor(site, parts))
    parts.step("outbox", lambda: _outbox(site, parts))
    parts.step("devices", lambda: parts.json("devices.json", facts.devices(site)))
    parts.step("environment", lambda: parts.json("environment.json", facts.environment(site, run)))
    journal = "not collected"

    def logs() -> None:
        nonlocal journal
        journal = _logs(site, parts, now - since_hours * 3600, run)

    parts.step("logs", logs)
    redactor = Redactor(site.secret_values(), public=site.public_ids())
    parts.notes += site.notes
    readme = _readme(site, parts, now=now, since_hours=since_hours, journal=journal, doctor=doctor)
    files = {"README.txt": readme, **parts.files}
    redacted = {file: redactor.redact(text) for file, text in files.items()}

    target = _target(output, name)
    try:
        _write(target, name, redacted, now)
    except OSError as exc:
        raise BundleError(f"cannot write {target}: {exc.strerror or exc}") from None
    problems = f"{len(parts.notes)} problem(s) noted in README.txt"
    summary = "; ".join([f"{len(redacted)} files", *parts.summary, problems])
    return BundleResult(target, sorted(redacted), list(parts.notes), summary)


def _target(output: Path | None, name: str) -> Path:
    if output is None:
        return Path.cwd() / f"{name}.tar.gz"
    return output / f"{name}.tar.gz" if output.is_dir() else output
