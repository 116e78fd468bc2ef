"""Commands that behave alike: every command that reads the agent's config takes --config (and, through the
shared loader, $POSAGENT_CONFIG); the few that read no config are named here, with why."""

from __future__ import annotations

import argparse

from agent.cli.main import build_parser

# Commands that never read the agent's config: they are given what they work on.
NO_CONFIG = {
    ("keys", "generate"): "writes a new key pair into --out",
    ("devices",): "lists this PC's devices",
    ("scan-test",): "reads the device given on the command line",
    ("test-print",): "prints on the printer given on the command line",
    ("fleet", "provision"): "headquarters' tool: works in --hq",
    ("fleet", "broker-config"): "headquarters' tool: works in --hq",
}


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, sub in subs[0].choices.items():
        found.update(leaves(sub, (*path, name)))
    return found


def test_every_command_that_reads_the_config_takes_config() -> None:
    commands = leaves(build_parser())
    without = {path for path, parser in commands.items()
               if "--config" not in {o for a in parser._actions for o in a.option_strings}}  # fmt: skip
    assert without == set(NO_CONFIG)
    assert ("queue", "status") in commands and ("queue", "recover") in commands
