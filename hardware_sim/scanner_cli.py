"""`posagent-sim scanner`: a serial scanner on a pty, driven from stdin.

Prints the stable path to open, then reads lines from stdin: each line is a code to "scan".
Lines starting with `!` are commands: `!unplug`, `!replug`, `!raw HEX` (send raw bytes),
`!cut CODE` (a fault: the first 8 characters, a 0.3 s pause, then the whole code), `!quit`.
Pipe codes in (`printf '2865...\\n' | posagent-sim scanner --link ...`) or type them.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from hardware_sim.scanner import SerialScannerSimulator

TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "none": b""}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scanner", help="serial barcode scanner on a pseudo-terminal", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--link", help="stable path to create (a symlink to the pty); default: a temp by-id path")
    parser.add_argument("--terminator", choices=sorted(TERMINATORS), default="cr")
    parser.add_argument("--prefix", default="", help="text sent before each code")
    parser.add_argument("--suffix", default="", help="text sent after each code, before the terminator")
    parser.add_argument("--aim", default="", metavar="ID", help="AIM symbology identifier to send, e.g. ]Q1")
    parser.add_argument("--stay", action="store_true", help="keep the port open after stdin ends (until Ctrl-C)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    sim = SerialScannerSimulator(
        args.link, terminator=TERMINATORS[args.terminator], prefix=args.prefix.encode(),
        suffix=args.suffix.encode(), aim_id=args.aim,
    )  # fmt: skip
    with sim:
        print(sim.path, flush=True)
        for line in sys.stdin:
            if not _handle(sim, line.rstrip("\r\n")):
                return 0
        while args.stay:
            time.sleep(3600)
    return 0


def _handle(sim: SerialScannerSimulator, line: str) -> bool:
    """Act on one stdin line; False means quit."""
    command, _, argument = line.partition(" ")
    try:
        if command == "!quit":
            return False
        if command == "!unplug":
            sim.unplug()
        elif command == "!replug":
            sim.replug()
        elif command == "!raw":
            sim.send_raw(bytes.fromhex(argument))
        elif command == "!cut":
            sim.scan_after_cut_read(argument)
        elif line:
            sim.scan(line)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
    return True
