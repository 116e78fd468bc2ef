"""`posagent`: the agent and its command line.

Each command group lives in its own module under `agent.cli` and exposes
`register(subparsers)`, which adds its parser and sets `handler` (a callable taking the parsed
arguments and returning the process exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

# Command-group modules, in the order `posagent --help` lists them.
COMMAND_MODULES = (
    "agent.cli.run",
    "agent.cli.keys",
    "agent.cli.card",
    "agent.cli.devices",
    "agent.cli.scan_test",
    "agent.cli.test_print",
    "agent.cli.queue",
    "agent.cli.ecr",
    "agent.cli.doctor",
    "agent.cli.support_bundle",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posagent",
        description="POS Agent: Alipay membership cards and payments at the till.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
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
