"""`posagent-sim`: the simulated outside world (gateway, customer, printer, scanner, camera).

Each simulator lives in its own module and exposes `register(subparsers)`, which adds its parser
and sets `handler` (a callable taking the parsed arguments and returning the exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

SIMULATOR_MODULES: tuple[str, ...] = (
    "hardware_sim.gateway.cli",
    "hardware_sim.customer_cli",
    "hardware_sim.scanner_cli",
    "hardware_sim.camera_cli",
    "hardware_sim.printer.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posagent-sim", description="Simulators standing in for the real world.")
    subparsers = parser.add_subparsers(dest="command", metavar="SIMULATOR")
    for name in SIMULATOR_MODULES:
        import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
