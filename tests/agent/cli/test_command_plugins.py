"""Command groups other packages add to `posagent` (the `posagent.commands` entry points): headquarters'
`relay` and `fleet` come that way, and a broken add-on never takes the till's own commands down."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from agent.cli import main as cli


def test_the_relay_and_fleet_commands_are_plugged_in(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    assert "relay" in listed and "fleet" in listed and "run" in listed


def test_a_broken_add_on_is_a_warning_and_the_agents_commands_still_work(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    broken = EntryPoint("broken", "no_such_module_anywhere", cli.PLUGIN_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [broken])
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    captured = capsys.readouterr()
    assert "warning: the 'broken' commands could not be loaded (ModuleNotFoundError" in captured.err
    assert "queue" in captured.out
    with pytest.raises(SystemExit) as done:
        cli.main(["queue", "--help"])  # a built-in command does not even load the add-ons
    assert done.value.code == 0
    assert capsys.readouterr().err == ""


def test_a_built_in_command_builds_only_its_own_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """`posagent run` must not import what the other commands need (OpenCV, Pillow, paho-mqtt...)."""
    monkeypatch.setattr(cli, "entry_points", lambda group: pytest.fail("add-ons loaded for a built-in command"))
    for module, commands in cli.COMMAND_MODULES.items():
        for command in commands:
            subparsers = cli.build_parser(command)._subparsers
            assert subparsers is not None
            assert set(subparsers._group_actions[0].choices) == set(commands), module  # type: ignore[arg-type]


def test_every_built_in_command_is_listed_with_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    subparsers = cli.build_parser()._subparsers
    assert subparsers is not None
    listed = [c for commands in cli.COMMAND_MODULES.values() for c in commands]
    assert sorted(subparsers._group_actions[0].choices) == sorted(listed)  # type: ignore[arg-type]
