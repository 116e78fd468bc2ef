"""The commands the guides show exist, take the options shown, and the harmless ones do what the guides say.

Every `posagent ...` in a fenced block or an inline code span of docs/*.md and README.md is walked through
the real argparse tree (`posagent` with its add-on groups): each command named must exist and each option
shown must be one of that command's. The harmless ones are run: every command's `--help`, `keys generate`,
`config check` and `queue status` on the example config in a folder laid out as install.sh lays it out.
The exit-code tables of the guides are read against the code's constants.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.cli import common
from agent.cli.main import build_parser, main
from agent.storage import database_path
from offline_queue import Outbox, create_key_file

ROOT = Path(__file__).resolve().parents[2]
GUIDES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
EXAMPLE_CONFIG = ROOT / "deploy" / "agent.example.toml"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"(?<!`)`(posagent [^`\n]+)`(?!`)")
_SHELL_STOPS = {"|", "||", "&&", ";", "<", ">", ">>", "2>&1"}


@dataclass(frozen=True)
class Shown:
    guide: str
    text: str
    argv: tuple[str, ...]  # after `posagent`


def _argv(line: str) -> tuple[str, ...] | None:
    """The arguments after `posagent` in a shell line, or None when the line does not run posagent."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    while words and (words[0] in ("$", "sudo") or re.fullmatch(r"[A-Z_]+=\S*", words[0])):
        words = words[1:]
    if not words or not (words[0] == "posagent" or words[0].endswith("/posagent")):
        return None
    argv: list[str] = []
    for word in words[1:]:
        if word in _SHELL_STOPS or word.startswith(("<", ">")):
            break
        if word.endswith((",", ":")):  # prose or a diagram goes on after the command
            argv.append(word[:-1])
            break
        argv.append(word.strip("[]"))
    return tuple(w for w in argv if w and w != "...")


def shown_commands() -> list[Shown]:
    found: list[Shown] = []
    for guide in GUIDES:
        text = guide.read_text(encoding="utf-8")
        lines = [line for block in _FENCE.findall(text) for line in block.replace("\\\n", " ").splitlines()]
        prose = _FENCE.sub("", text)
        lines += _INLINE.findall(prose)
        for line in lines:
            argv = _argv(line.strip())
            if argv is not None:
                found.append(Shown(guide.name, line.strip(), argv))
    return found


SHOWN = shown_commands()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def resolve(argv: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """The command path the arguments name, and what in them the parser does not know."""
    parser = build_parser()
    path: list[str] = []
    rest = list(argv)
    while rest and rest[0] in (commands := _subcommands(parser)):
        parser = commands[rest.pop(0)]
        path.append(parser.prog.split()[-1])
    unknown = []
    if rest and _subcommands(parser) and not rest[0].startswith("-"):
        unknown.append(f"command {rest[0]!r} (known: {', '.join(sorted(_subcommands(parser)))})")
    options = _options(parser)
    unknown += [word for word in rest if word.startswith("-") and len(word) > 1 and not word[1].isdigit()
                and word.split("=", 1)[0] not in options]  # fmt: skip
    return tuple(path), unknown


def test_the_guides_show_commands() -> None:
    # The extraction itself works: the guides show dozens of commands, from several guides.
    assert len(SHOWN) > 50 and {"operations.md", "merchant-setup.md", "ecr-protocol.md"} <= {s.guide for s in SHOWN}


@pytest.mark.parametrize("shown", SHOWN, ids=[f"{s.guide}:{' '.join(s.argv)[:60]}" for s in SHOWN])
def test_every_command_and_option_shown_exists(shown: Shown) -> None:
    path, unknown = resolve(shown.argv)
    assert path, f"{shown.guide}: {shown.text!r} names no posagent command"
    assert unknown == [], f"{shown.guide}: {shown.text!r}: not known to `posagent {' '.join(path)}`: {unknown}"


COMMAND_PATHS = sorted({resolve(s.argv)[0] for s in SHOWN} - {()})


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=[" ".join(p) for p in COMMAND_PATHS])
def test_every_command_shown_answers_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    assert f"usage: posagent {' '.join(path)}" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


# ---- the first start, as operations.md tells it ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example config in an /etc/posagent of its own, with what install.sh writes (token, outbox key,
    state folder) and nothing more; this machine's paths and ports swapped for private ones."""
    etc = tmp_path / "etc" / "posagent"
    etc.mkdir(parents=True)
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    for old, new in (('state_dir = "/var/lib/posagent"', f'state_dir = "{tmp_path / "state"}"'),
                     ('"/run/posagent/ecr.sock"', f'"{tmp_path / "run" / "ecr.sock"}"'),
                     ("tcp_port = 7410", f"tcp_port = {_free_port()}")):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    (etc / "agent.toml").write_text(text, encoding="utf-8")
    (etc / "ecr_token").write_text("t" * 43)
    os.chmod(etc / "ecr_token", 0o600)
    create_key_file(etc / "outbox.key")
    (tmp_path / "state").mkdir(mode=0o750)
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("POSAGENT_CONFIG", str(etc / "agent.toml"))
    monkeypatch.delenv("POSAGENT_DB", raising=False)
    return etc


def test_the_first_start_fails_only_for_the_missing_keys_then_the_guide_s_steps_make_it_pass(
    installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check"]) == common.EXIT_USAGE
    refused = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(refused) == 2 and all(": alipay." in line and "_key_file" in line for line in refused), refused

    keys = installed / "keys"
    assert main(["keys", "generate", "--out", str(keys)]) == 0
    told = capsys.readouterr().out
    assert str(keys / "alipay_public_key.pem") in told  # where to save Alipay's key: the config's path
    shutil.copy(keys / "app_public_key.pem", keys / "alipay_public_key.pem")  # a well-formed key stands in
    assert main(["config", "check"]) == 0
    assert "configuration OK" in capsys.readouterr().out

    assert main(["queue", "status"]) == common.EXIT_USAGE  # the agent makes its database at first start
    assert "no outbox database" in capsys.readouterr().err
    Outbox.open(database_path(installed.parent.parent / "state"), key_file=installed / "outbox.key").close()
    assert main(["queue", "status", "--json"]) == 0


def test_the_guides_save_alipay_s_key_where_keys_generate_says() -> None:
    setup = (ROOT / "docs" / "merchant-setup.md").read_text(encoding="utf-8")
    # public-key mode: certificate mode's keys generate (with --csr) writes no Alipay key
    [out] = [s.argv[s.argv.index("--out") + 1] for s in SHOWN if s.argv[:2] == ("keys", "generate")
             and "--csr" not in s.argv and s.guide == "merchant-setup.md"]  # fmt: skip
    assert f"{out}/alipay_public_key.pem" in setup
    assert 'alipay_public_key_file = "keys/alipay_public_key.pem"' in EXAMPLE_CONFIG.read_text(encoding="utf-8")


# ---- exit codes ------------------------------------------------------------------------------------------

CODES = {common.EXIT_OK, common.EXIT_BUSINESS, common.EXIT_USAGE, common.EXIT_SETUP, common.EXIT_TRANSIENT}


def exit_code_table(guide: str) -> dict[int, str]:
    """The `| code | meaning |` rows of the guide's exit-code table."""
    rows: dict[int, str] = {}
    for line in (ROOT / "docs" / guide).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            rows[int(cells[0])] = " ".join(cells[1:])
    return rows


@pytest.mark.parametrize("guide", ["merchant-setup.md", "alipay-client.md"])
def test_the_exit_code_tables_match_the_code(guide: str) -> None:
    table = exit_code_table(guide)
    assert set(table) == CODES
    assert "again" in table[common.EXIT_TRANSIENT] and "safe" in table[common.EXIT_TRANSIENT]
    # The class of "running again cannot fix it": a wrong Alipay key is there, not under "safe to run again".
    assert "alipay_public_key" in table[common.EXIT_SETUP] and "cannot" in table[common.EXIT_SETUP]
    assert "alipay_public_key" not in table[common.EXIT_TRANSIENT]


def test_the_status_page_masking_the_guide_describes_is_the_code_s() -> None:
    from agent.codes import mask

    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    [row] = [line for line in operations.splitlines() if line.startswith("| Last scans |")]
    shown = re.search(r"`(\d\d\*+\d{4})`", row)
    assert shown is not None and "first 2 and last 4" in row
    example = shown.group(1)
    assert mask(example[:2] + "7" * (len(example) - 6) + example[-4:]) == example
