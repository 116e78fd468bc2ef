"""`posagent`: the agent and its command line.

Each command group lives in its own module under `agent.cli` and exposes
`register(subparsers)`, which adds its parser and sets `handler` (a callable taking the parsed
arguments and returning the process exit code).

Packages installed alongside add their command groups through the `posagent.commands` entry point
group (a module with the same `register`): headquarters' `relay` and `fleet` come that way, so the
agent never imports the relay.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import entry_points

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

PLUGIN_GROUP = "posagent.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posagent",
        description="POS Agent: Alipay membership cards and payments at the till.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            plugin.load().register(subparsers)
        except Exception as exc:  # a broken add-on must not take the till's own commands down
            print(f"warning: the {plugin.name!r} commands could not be loaded ({type(exc).__name__}: {exc})",
                  file=sys.stderr)  # fmt: skip
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
