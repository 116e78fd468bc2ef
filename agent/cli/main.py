"""`posagent`: the agent and its command line.

Each command group lives in its own module under `agent.cli` and exposes
`register(subparsers)`, which adds its parser and sets `handler` (a callable taking the parsed
arguments and returning the process exit code).

Packages installed alongside add their command groups through the `posagent.commands` entry point
group (a module with the same `register`): headquarters' `relay` and `fleet` come that way, so the
agent never imports the relay.

A built-in command imports only its own module (`COMMAND_MODULES` says which module registers which
commands): `posagent run` must not carry what the other commands load (OpenCV for scan-test, Pillow
for card images, paho-mqtt for the doctor's fleet check...). Help and unknown commands build them all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import entry_points

# Command-group modules, in the order `posagent --help` lists them, with the commands each registers
# (a test keeps the two in step).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "agent.cli.run": ("run", "config"),
    "agent.cli.keys": ("keys",),
    "agent.cli.card": ("card",),
    "agent.cli.devices": ("devices",),
    "agent.cli.scan_test": ("scan-test",),
    "agent.cli.test_print": ("test-print",),
    "agent.cli.queue": ("queue",),
    "agent.cli.ecr": ("ecr",),
    "agent.cli.doctor": ("doctor",),
    "agent.cli.support_bundle": ("support-bundle",),
}

PLUGIN_GROUP = "posagent.commands"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or for the built-in `command` alone (its module only is imported)."""
    modules = [name for name, commands in COMMAND_MODULES.items() if command in commands]
    parser = argparse.ArgumentParser(
        prog="posagent",
        description="POS Agent: Alipay membership cards and payments at the till.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules or COMMAND_MODULES:
        import_module(name).register(subparsers)
    if modules:
        return parser
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            plugin.load().register(subparsers)
        except Exception as exc:  # a broken add-on must not take the till's own commands down
            print(f"warning: the {plugin.name!r} commands could not be loaded ({type(exc).__name__}: {exc})",
                  file=sys.stderr)  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
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
