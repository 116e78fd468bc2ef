"""`posagent ecr pair` and `posagent ecr origins`: the origin book in the state dir, one-line errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.ecr.origin_store import OriginStore, store_path

EXAMPLE_CONFIG = Path(__file__).parents[3] / "deploy" / "agent.example.toml"
POS = "https://pos.example.com"


def config_with(tmp_path: Path, state_dir: Path, extra: str = "") -> str:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace('state_dir = "/var/lib/posagent"',
                                                              f'state_dir = "{state_dir}"')  # fmt: skip
    if extra:
        text = text.replace("[ecr]\n", f"[ecr]\n{extra}\n", 1)
    config = tmp_path / "agent.toml"
    config.write_text(text, encoding="utf-8")
    return str(config)


def test_pair_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_with(tmp_path, tmp_path / "state", "websocket_port = 7412")
    assert main(["ecr", "pair", "--origin", "HTTPS://POS.example.com:443/", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"Pairing code for {POS}: " in out and "ws://127.0.0.1:7412/ecr" in out
    code = out.split(": ", 1)[1].split()[0]
    assert len(code) == 9 and code[4] == "-"
    book_text = store_path(tmp_path / "state").read_text()
    assert code.replace("-", "") not in book_text  # only its hash is kept

    assert main(["ecr", "origins", "list", "--config", config, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["paired"] == [] and [p["origin"] for p in listed["pending"]] == [POS]

    assert main(["ecr", "origins", "revoke", POS, "--config", config]) == 0  # a pending code can be withdrawn
    assert main(["ecr", "origins", "revoke", POS, "--config", config]) == 1
    assert "is not paired" in capsys.readouterr().err


def test_pairing_without_the_websocket_says_it_is_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_with(tmp_path, tmp_path / "state")
    assert main(["ecr", "pair", "--origin", POS, "--config", config, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["url"] is None
    assert main(["ecr", "pair", "--origin", POS, "--config", config]) == 0
    assert "websocket_port is not set" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["pair", "--origin", "pos.example.com"], ["pair", "--origin", "https://pos.example.com/till"], ["pair"],
    ["origins"], ["origins", "drop", POS], ["origins", "revoke"], ["status.get", "extra"],
])  # fmt: skip
def test_mistakes_get_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    config = config_with(tmp_path, tmp_path / "state")
    assert main(["ecr", *argv, "--config", config]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_a_damaged_book_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    store_path(state).write_text("{oops")
    assert main(["ecr", "origins", "list", "--config", config_with(tmp_path, state)]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "Traceback" not in err


def test_a_book_written_by_root_belongs_to_the_agents_user(tmp_path: Path) -> None:
    """The CLI runs as root, the daemon as `posagent`: the daemon must still be able to read the book.
    (Tests run as root, as on the tills' technicians' shells and in CI.)"""
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 4321, 4321)  # the state dir belongs to the agent's user
    OriginStore(store_path(state)).update(lambda book: book.start_pairing(POS, time.time(), os.urandom))
    book = store_path(state)
    assert (book.stat().st_uid, book.stat().st_mode & 0o777) == (4321, 0o600)
    assert book.with_name(book.name + ".lock").stat().st_uid == 4321
