"""`posagent-sim printer`: serve, and render a captured stream offline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hardware_sim.printer.cli import register


def run_cli(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="posagent-sim")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_render_reports_jobs_and_what_it_skipped(
    escpos_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "odd.bin"
    stream.write_bytes((escpos_dir / "qr-code.bin").read_bytes() + b"\x1b\x01tail\x1dv0\x00\x05")
    assert run_cli(["printer", "render", str(stream), "--out", str(tmp_path / "out"), "--width", "58"]) == 0
    out = capsys.readouterr().out
    assert "skipped: 1 unknown command(s), 1 truncated" in out
    assert "unknown: 1b 01" in out
    assert "Testing 123" in out
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_render_json_gives_the_full_report(
    escpos_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = escpos_dir / "demo.bin"
    assert run_cli(["printer", "render", str(source), "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bytes"] == source.stat().st_size
    assert report["unknown"] == 0 and report["truncated"] == 0
    assert len(report["jobs"]) == len(list(tmp_path.glob("*.png")))


def test_render_of_a_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["printer", "render", str(tmp_path / "nope.bin"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_serve_says_where_it_listens_first_and_prints(tmp_path: Path) -> None:
    code = (
        "import argparse, sys\n"
        "from hardware_sim.printer.cli import register\n"
        "parser = argparse.ArgumentParser()\n"
        "register(parser.add_subparsers())\n"
        "args = parser.parse_args()\n"
        "sys.exit(args.handler(args))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "printer", "--port", "0", "--out", str(tmp_path), "--width", "58"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("printer listening on 127.0.0.1:")
        port = int(first.split(":")[1].split(",")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"\x10\x04\x01")
            assert sock.recv(1) == b"\x12"
            sock.sendall(b"hello\n\x1dV\x00")
        assert process.stdout.readline().startswith("job 1: ")
    finally:
        process.terminate()
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave it running, even when it fails to stop
            _, errors = process.communicate()
    assert process.returncode == 0, errors


def test_serve_on_a_port_in_use_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert run_cli(["printer", "--port", str(port), "--out", str(tmp_path)]) == 2
    assert "cannot start the printer" in capsys.readouterr().err
