"""Real ESC/POS streams nobody here wrote (escpos-php's integration outputs) render without error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from hardware_sim.printer import commands as c
from hardware_sim.printer.offline import render_file
from hardware_sim.printer.parser import Parser

from .conftest import escpos_streams


@pytest.mark.parametrize("path", escpos_streams(), ids=lambda p: p.name)
def test_every_captured_stream_renders_and_reports_what_it_skipped(path: Path, tmp_path: Path) -> None:
    report = render_file(path, tmp_path, 576)
    assert report.jobs, "every stream prints something"
    assert report.unknown == 0 and report.truncated == 0  # all commands in them are known
    lines = (tmp_path / "jobs.jsonl").read_text().splitlines()
    assert len(lines) == len(report.jobs)
    for job, line in zip(report.jobs, lines, strict=True):
        assert json.loads(line)["seq"] == job.seq
        with Image.open(job.png) as image:
            assert image.width == 576 and image.height > 0
        assert Path(job.bin).read_bytes()
    # The raw job files together give back the stream (less a trailing drawer kick after the last cut).
    assert path.read_bytes().startswith(b"".join(Path(job.bin).read_bytes() for job in report.jobs))


def test_the_native_qr_codes_decode_to_the_stored_contents(escpos_dir: Path, tmp_path: Path) -> None:
    data = (escpos_dir / "qr-code.bin").read_bytes()
    parser = Parser()
    commands = parser.feed(data) + parser.close()
    stored: list[bytes] = []
    current = b""
    for command in commands:
        if isinstance(command, c.QrStore):
            current = command.data
        elif isinstance(command, c.QrPrint):
            stored.append(current)
    assert len(stored) > 10

    report = render_file(escpos_dir / "qr-code.bin", tmp_path, 576)
    (job,) = report.jobs
    assert job.qr_payloads == stored
    with Image.open(job.png) as image:
        results = zxingcpp.read_barcodes(image.convert("L"))
    # Read top to bottom, the symbols give back exactly what the stream stored, binary data included.
    found = [bytes(r.bytes) for r in sorted(results, key=lambda r: (r.position.top_left.y, r.position.top_left.x))]
    assert found == stored


def test_a_stream_cut_short_is_reported_not_fatal(escpos_dir: Path, tmp_path: Path) -> None:
    data = (escpos_dir / "receipt-with-logo.bin").read_bytes()
    cut_short = tmp_path / "short.bin"
    cut_short.write_bytes(data[:200])  # ends inside the logo's graphics data
    report = render_file(cut_short, tmp_path / "out", 384)
    assert report.truncated == 1
    assert report.jobs and report.jobs[-1].truncated == 1
    assert report.jobs[-1].unknown_samples[0].startswith("1d 28 4c")
