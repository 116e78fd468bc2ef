"""`posagent queue ...`: status, list, show, retry, purge and drain --wait on a real outbox file."""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from pathlib import Path

import pytest

from agent.cli import queue as queue_cli
from agent.cli.main import main
from offline_queue import Dead, Done, Outbox, State, create_key_file


def run(*argv: str) -> int:
    """Only the queue command group, so these tests do not depend on the other groups."""
    parser = argparse.ArgumentParser(prog="posagent")
    queue_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["queue", *argv])
    return int(args.handler(args))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An outbox with one pending, one done and two dead jobs (one with a sensitive field)."""
    path = tmp_path / "agent.db"
    key = create_key_file(tmp_path / "outbox.key")
    with Outbox.open(path, key_file=key) as box:
        box.enqueue("card.update", {"points": 10}, idempotency_key="u-1", ordering_key="C1", business_time=1.0)
        done = box.enqueue("points.add", {"n": 1}, idempotency_key="p-1")
        dead = box.enqueue(
            "card.open", {"phone": "13800138000", "template_id": "T1"}, idempotency_key="s-1", sensitive=("phone",)
        )
        other_dead = box.enqueue("card.open", {"template_id": "T2"}, idempotency_key="s-2")
        box.claim(10)
        box.complete(done.id, Done())
        box.complete(dead.id, Dead("INVALID_AUTH_CODE: ask the customer to scan again"))
        box.complete(other_dead.id, Dead("TEMPLATE_NOT_EXIST"))
        box.requeue_in_flight()  # the card.update goes back to pending
    return path


def test_status_json_counts_per_kind_and_state(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("status", "--db", str(db), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backlog"] == 1
    assert data["counts"] == {"card.update": {"pending": 1}, "points.add": {"done": 1}, "card.open": {"dead": 2}}
    assert data["totals"]["dead"] == 2


def test_status_text_for_a_technician(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "backlog: 1" in out and "dead letters: 2" in out and "card.open" in out


def test_db_path_comes_from_the_environment(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POSAGENT_DB", str(db))
    assert run("status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["backlog"] == 1


def test_a_missing_database_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("status", "--db", str(tmp_path / "nope.db")) == 2
    assert "no outbox database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()  # the CLI never creates one


def test_a_corrupt_database_is_reported_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "agent.db"
    broken.write_bytes(b"garbage" * 1000)
    assert run("status", "--db", str(broken), "--json") == 2
    assert "corrupt" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert broken.read_bytes() == b"garbage" * 1000


def test_list_filters_by_state_and_never_shows_sensitive_values(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("list", "--db", str(db), "--state", "dead", "--json") == 0
    out = capsys.readouterr().out
    jobs = json.loads(out)["jobs"]
    assert [j["kind"] for j in jobs] == ["card.open", "card.open"]
    assert jobs[0]["payload"] == {"phone": "<sensitive>", "template_id": "T1"}
    assert "13800138000" not in out


def test_show_gives_the_reason_and_the_history(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("show", "3", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "ask the customer to scan again" in out and "sent:dead" in out and "13800138000" not in out
    assert run("show", "99", "--db", str(db)) == 1
    assert "no job 99" in capsys.readouterr().err


def test_retry_by_id_kind_or_all(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("retry", "--db", str(db), "--id", "3", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "retried": 1}
    assert run("retry", "--db", str(db), "--kind", "card.open") == 0
    assert "1 dead letter(s) queued again" in capsys.readouterr().out
    with Outbox.open(db) as box:
        assert box.stats().total(State.DEAD) == 0 and box.stats().backlog == 3


def test_retry_needs_a_selection(db: Path) -> None:
    with pytest.raises(SystemExit):
        run("retry", "--db", str(db))


def test_purge_dead_letters_and_old_finished_jobs(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("purge", "--db", str(db), "--all", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "purged": 2}
    assert run("purge", "--db", str(db), "--done-older-than", "1h") == 0
    assert capsys.readouterr().out.startswith("0 finished")  # too recent
    assert run("purge", "--db", str(db), "--done-older-than", "0s") == 0
    assert capsys.readouterr().out.startswith("1 finished")
    with Outbox.open(db) as box:
        assert box.stats().counts == {"card.update": {"pending": 1}}  # the pending job is never purged


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800)])
def test_ages_read_like_a_technician_writes_them(text: str, seconds: float) -> None:
    assert queue_cli.parse_age(text) == seconds


def test_a_bad_age_is_refused(db: Path) -> None:
    with pytest.raises(SystemExit):
        run("purge", "--db", str(db), "--done-older-than", "soon")


def test_drain_wait_shows_progress_until_the_backlog_is_empty(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sender = Outbox.open(db)
    for n in range(5):
        sender.enqueue("points.add", {"n": n}, idempotency_key=f"more-{n}")
    polls = threading.Event()

    def daemon() -> None:  # stands in for the daemon: sends one job per poll of the watcher
        while sender.stats().backlog:
            polls.wait(5)
            polls.clear()
            for job in sender.claim(1):
                sender.complete(job.id, Done())

    worker = threading.Thread(target=daemon)
    worker.start()
    bar = io.StringIO()

    def tick(_seconds: float) -> None:
        polls.set()
        time.sleep(0.01)

    try:
        code = queue_cli.watch_drain(sender, timeout=60, interval=0.01, json_output=False, out=bar, sleep=tick)
    finally:
        polls.set()
        worker.join(10)
        sender.close()
    assert code == 0
    lines = bar.getvalue().splitlines()
    assert lines[0].startswith("[") and "0/6 sent" in lines[0]
    assert "6/6 sent" in lines[-1] and "0 left" in lines[-1]


def test_drain_wait_gives_up_after_the_timeout(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("drain", "--db", str(db), "--wait", "--timeout", "0", "--json") == 4
    assert json.loads(capsys.readouterr().out)["backlog"] == 1


def test_drain_without_wait_reports_the_backlog(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("drain", "--db", str(db)) == 0
    assert capsys.readouterr().out.startswith("1 job(s) pending")


def test_the_group_is_registered_in_posagent(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "status", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backlog"] == 1


# ---- finding the database like every other command finds its config ------------------------------

EXAMPLE_CONFIG = Path(__file__).parents[3] / "deploy" / "agent.example.toml"


def _config_with_state_dir(tmp_path: Path, state_dir: Path) -> Path:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace('state_dir = "/var/lib/posagent"',
                                                              f'state_dir = "{state_dir}"')  # fmt: skip
    config = tmp_path / "agent.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_queue_takes_config_and_reads_the_database_in_its_state_dir(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POSAGENT_DB", raising=False)
    config = _config_with_state_dir(tmp_path, db.parent)
    assert run("status", "--config", str(config), "--json") == 0
    assert json.loads(capsys.readouterr().out)["backlog"] == 1


def test_queue_follows_posagent_config(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POSAGENT_DB", raising=False)
    monkeypatch.setenv("POSAGENT_CONFIG", str(_config_with_state_dir(tmp_path, db.parent)))
    assert run("list", "--state", "dead", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["jobs"]) == 2


def test_db_still_wins_over_the_config(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config_with_state_dir(tmp_path, tmp_path / "elsewhere")
    assert run("status", "--config", str(config), "--db", str(db), "--json") == 0
    assert json.loads(capsys.readouterr().out)["backlog"] == 1


def test_a_bad_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.delenv("POSAGENT_DB", raising=False)
    assert run("status", "--config", str(tmp_path / "missing.toml")) == 2
    assert "missing.toml" in capsys.readouterr().err
