"""Render a captured ESC/POS stream (a .bin file) to PNG jobs, as the printer would have printed it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hardware_sim.printer import commands as c
from hardware_sim.printer.job import JobAssembler
from hardware_sim.printer.parser import Parser
from hardware_sim.printer.render import PAPER_WIDTHS
from hardware_sim.printer.sink import JobRecord, JobSink

_CHUNK = 64 * 1024


@dataclass
class RenderReport:
    source: str
    bytes: int
    commands: int
    unknown: int
    truncated: int
    status_requests: int
    jobs: list[JobRecord]
    ignored: dict[str, int] = field(default_factory=dict)  # known commands with nothing to draw
    drawer_pulses: int = 0  # ESC p, those after the last cut (in no job) included

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "bytes": self.bytes,
            "commands": self.commands,
            "unknown": self.unknown,
            "truncated": self.truncated,
            "status_requests": self.status_requests,
            "ignored": self.ignored,
            "drawer_pulses": self.drawer_pulses,
            "jobs": [job.to_json() for job in self.jobs],
        }


def render_stream(
    data: bytes, out_dir: Path, width_dots: int = PAPER_WIDTHS[80], encoding: str | None = None, source: str = "-"
) -> RenderReport:
    parser = Parser()
    assembler = JobAssembler(width_dots, encoding)
    sink = JobSink(out_dir)
    ignored: Counter[str] = Counter()
    status_requests = 0
    records: list[JobRecord] = []
    chunks = [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)]
    for commands in [*(parser.feed(chunk) for chunk in chunks), parser.close()]:
        for command in commands:
            if isinstance(command, c.Other):
                ignored[command.name] += 1
            elif isinstance(command, c.StatusRequest):
                status_requests += 1
            job = assembler.add_one(command)
            if job is not None:
                records.append(sink.write(job))
    last = assembler.end_of_stream()
    if last is not None:
        records.append(sink.write(last))
    return RenderReport(
        source=source,
        bytes=len(data),
        commands=parser.commands,
        unknown=parser.unknown,
        truncated=parser.truncated,
        status_requests=status_requests,
        jobs=records,
        ignored=dict(ignored),
        drawer_pulses=assembler.drawer_pulses,
    )


def render_file(
    path: Path, out_dir: Path, width_dots: int = PAPER_WIDTHS[80], encoding: str | None = None
) -> RenderReport:
    return render_stream(path.read_bytes(), out_dir, width_dots, encoding, source=str(path))
