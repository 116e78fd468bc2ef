"""`posagent support-bundle`: writes a private archive, says where, and fails only when it cannot write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.cli.main import main
from tests.agent.support.conftest import Till, make_till


@pytest.fixture
def till(tmp_path: Path) -> Till:
    return make_till(tmp_path / "till")


def test_writes_the_bundle_where_asked_and_prints_its_path(
    till: Till, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(["support-bundle", "--config", str(till.config), "--output", str(out_dir), "--no-doctor"])
    path_line, summary = capsys.readouterr().out.splitlines()
    path = Path(path_line)
    assert code == 0
    assert path.parent == out_dir and path.name.startswith("posagent-support-SH01-T1-") and path.is_file()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "files" in summary and "outbox: backlog 3, dead 1" in summary


def test_defaults_to_the_current_directory(
    till: Till, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["support-bundle", "--config", str(till.config), "--no-doctor", "--since-hours", "1"]) == 0
    path = Path(capsys.readouterr().out.splitlines()[0])
    assert path.parent == tmp_path and path.name.endswith(".tar.gz")


def test_exit_1_when_the_bundle_cannot_be_written(
    till: Till, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "bundle.tar.gz"
    assert main(["support-bundle", "--config", str(till.config), "--output", str(target), "--no-doctor"]) == 1
    assert "cannot write" in capsys.readouterr().err and not target.exists()


def test_a_broken_config_still_gives_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[store\n")
    assert main(["support-bundle", "--config", str(config), "--output", str(tmp_path), "--no-doctor"]) == 0
    assert "posagent-support-unknown-unknown-" in capsys.readouterr().out


def test_since_hours_must_be_positive(till: Till) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["support-bundle", "--config", str(till.config), "--since-hours", "0"])
    assert exited.value.code == 2


@pytest.mark.parametrize("suffix", ["/", os.sep])
def test_an_output_folder_that_does_not_exist_is_refused_not_taken_as_a_file_name(
    till: Till, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    missing = tmp_path / "missing-dir"
    code = main(["support-bundle", "--config", str(till.config), "--output", f"{missing}{suffix}", "--no-doctor"])
    assert code == 1
    assert "no such folder" in capsys.readouterr().err
    assert not missing.exists() and list(tmp_path.iterdir()) == [tmp_path / "till"]


def test_an_existing_folder_given_with_a_slash_gets_the_bundle_inside(
    till: Till, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["support-bundle", "--config", str(till.config), "--output", f"{out_dir}/", "--no-doctor"]) == 0
    assert Path(capsys.readouterr().out.splitlines()[0]).parent == out_dir
