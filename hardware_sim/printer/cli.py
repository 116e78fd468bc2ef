"""`posagent-sim printer`: run the printer simulator, or render a captured stream offline.

posagent-sim printer --port 9100 --out DIR [--width 58|80] [--admin-port N] [--pty] [--fifo PATH]
posagent-sim printer render FILE.bin --out DIR [--width 58|80] [--json]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from hardware_sim.printer.offline import render_file
from hardware_sim.printer.render import PAPER_WIDTHS
from hardware_sim.printer.simulator import PrinterSimulator


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "printer",
        help="ESC/POS receipt printer on raw TCP (and a pty); renders each job to PNG",
        description="A network ESC/POS printer: answers status, renders each job to DIR/NNNN-TIME.png.",
    )
    _common(parser, out_required=False)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="raw TCP port (default 9100; 0 = any free)")
    parser.add_argument(
        "--admin-port", type=int, default=None, help="HTTP control port: GET/PUT /state, GET /jobs (0 = any free)"
    )
    parser.add_argument("--pty", action="store_true", help="also open a pseudo-terminal (serial printer)")
    parser.add_argument(
        "--fifo", type=Path, default=None, help="also read a named pipe (created if missing), like /dev/usb/lp0"
    )
    parser.set_defaults(handler=_serve)
    actions = parser.add_subparsers(dest="printer_action", metavar="ACTION")
    render = actions.add_parser("render", help="render a captured ESC/POS stream to PNG, report what was skipped")
    render.add_argument("file", type=Path, help="captured byte stream (.bin)")
    _common(render, out_required=True)
    render.add_argument("--json", action="store_true", help="print the report as JSON")
    render.set_defaults(handler=_render)


def _common(parser: argparse.ArgumentParser, out_required: bool) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        required=out_required,
        default=None,
        help="output folder for PNG, BIN and jobs.jsonl" + ("" if out_required else " (default ./printer-out)"),
    )
    parser.add_argument("--width", type=int, choices=sorted(PAPER_WIDTHS), default=80, help="paper width, mm")
    parser.add_argument(
        "--encoding",
        choices=["gb18030"],
        default=None,
        help="decode all text as GB18030, as Chinese printers do (default: ESC t code page)",
    )


def _render(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    try:
        report = render_file(path, args.out, PAPER_WIDTHS[args.width], args.encoding)
    except OSError as exc:
        print(f"error: cannot render {path} into {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return 0
    print(f"{path}: {report.bytes} bytes, {report.commands} commands, {len(report.jobs)} job(s)")
    for job in report.jobs:
        qr = f", QR {job.qr}" if job.qr else ""
        print(f"  job {job.seq}: {job.png}{qr}")
        for note in job.notes:
            print(f"    note: {note}")
    if report.drawer_pulses:
        print(f"cash drawer pulses: {report.drawer_pulses}")
    print(f"skipped: {report.unknown} unknown command(s), {report.truncated} truncated")
    for name, count in sorted(report.ignored.items()):
        print(f"  known, nothing to draw: {name} x{count}")
    samples = [sample for job in report.jobs for sample in job.unknown_samples]
    for sample in samples[:8]:
        print(f"  unknown: {sample}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    out = args.out or Path("printer-out")
    try:
        simulator = PrinterSimulator(
            out,
            host=args.host,
            port=args.port,
            paper_mm=args.width,
            encoding=args.encoding,
            admin_port=args.admin_port,
            pty=args.pty,
            fifo=args.fifo,
        )
    except OSError as exc:  # port in use, folder not writable, no pty...
        print(f"error: cannot start the printer on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only set a flag: taking a lock here (Event.set) can deadlock with the interrupted main thread.
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    with simulator:
        print(f"printer listening on {simulator.host}:{simulator.port}, {args.width} mm, out {out}", flush=True)
        if simulator.admin_port is not None:
            print(f"admin http://{simulator.host}:{simulator.admin_port}/state", flush=True)
        if simulator.pty_path is not None:
            print(f"pty {simulator.pty_path}", flush=True)
        if simulator.fifo_path is not None:
            print(f"fifo {simulator.fifo_path}", flush=True)
        seen = 0
        try:
            while not stopping:
                time.sleep(0.2)
                jobs = simulator.jobs()
                for job in jobs[seen:]:
                    print(f"job {job.seq}: {job.png} ({job.bytes} bytes, {job.unknown} unknown)", flush=True)
                seen = len(jobs)
        except KeyboardInterrupt:
            pass
    return 0
