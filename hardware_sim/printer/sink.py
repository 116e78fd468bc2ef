"""Writes finished jobs to the output folder: NNNN-TIME.png, NNNN-TIME.bin and a line in jobs.jsonl.

Sequence numbers continue after the highest one already in the folder, so restarting the
simulator on the same folder never overwrites a job.
"""

from __future__ import annotations

import builtins
import json
import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardware_sim.printer.job import RenderedJob

_SEQUENCE = re.compile(r"^(\d{4,})-", re.ASCII)


@dataclass(frozen=True)
class JobRecord:
    """A printed job as the outside sees it (tests, `GET /jobs`, jobs.jsonl)."""

    seq: int
    time: str
    png: str
    bin: str
    bytes: int
    commands: int
    unknown: int
    truncated: int
    cut: bool
    qr: list[str] = field(default_factory=list)  # payloads, UTF-8 (undecodable bytes escaped)
    qr_payloads: list[builtins.bytes] = field(default_factory=list, repr=False)  # exact bytes (not in JSON)
    unknown_samples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # {"event": "drawer_pulse", "pin", "on_ms", "off_ms"}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["qr_payloads"]
        return data


class JobSink:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._records: list[JobRecord] = []
        existing = [int(m.group(1)) for p in out_dir.iterdir() if (m := _SEQUENCE.match(p.name))]
        self._next = max(existing, default=0) + 1

    def write(self, job: RenderedJob) -> JobRecord:
        with self._lock:
            seq = self._next
            self._next += 1
            now = datetime.now(UTC)
            stem = f"{seq:04d}-{now:%Y%m%dT%H%M%S}"
            png, raw = self.out_dir / f"{stem}.png", self.out_dir / f"{stem}.bin"
            job.image.save(png)
            raw.write_bytes(job.raw)
            record = JobRecord(
                seq=seq,
                time=now.isoformat(timespec="milliseconds"),
                png=str(png),
                bin=str(raw),
                bytes=len(job.raw),
                commands=job.commands,
                unknown=job.unknown,
                truncated=job.truncated,
                cut=job.cut,
                qr=[payload.decode("utf-8", errors="backslashreplace") for payload in job.qr_payloads],
                qr_payloads=list(job.qr_payloads),
                unknown_samples=list(job.unknown_samples),
                notes=list(job.notes),
                events=[dict(event) for event in job.events],
            )
            with (self.out_dir / "jobs.jsonl").open("a", encoding="utf-8") as log:
                log.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            self._records.append(record)
            return record

    def records(self) -> list[JobRecord]:
        with self._lock:
            return list(self._records)
