"""`posagent ecr OP`: one protocol request to the running agent, answers as JSON, errors as exit codes."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.cli.common import EXIT_BUSINESS, EXIT_OK, EXIT_SETUP, EXIT_TRANSIENT, EXIT_USAGE
from agent.cli.ecr import Until, parse_until
from agent.cli.main import main
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.daemon import TOKEN, Daemon, free_port


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def token_file(daemon: Daemon) -> str:
    return str(daemon.config.parent / "keys" / "ecr_token")


def test_a_technician_runs_a_sale_and_reads_it_back(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = example(Behaviour.PAID)
    body = json.dumps({"sale_id": "CLI1", "amount": "9.9", "subject": "Till 1", "code": code})
    exit_code = main(["ecr", "sale.start", "--body", body, "--config", str(daemon.config), "--json",
                      "--wait-event", "sale.updated", "--until", "sale.final=true"])  # fmt: skip
    out = capsys.readouterr()
    assert exit_code == EXIT_OK
    answer, event = json_lines(out.out)
    assert answer["sale"]["sale_id"] == "CLI1" and answer["sale"]["amount"] == "9.90"
    assert event["event"] == "sale.updated" and event["body"]["sale"]["state"] == "succeeded"
    assert code not in out.out + out.err  # the payment code never comes back

    # Without the config: the port and the token file given on the command line; indented output.
    exit_code = main(["ecr", "sale.get", "--body", '{"sale_id": "CLI1"}', "--port", str(daemon.port),
                      "--token-file", token_file(daemon)])  # fmt: skip
    out = capsys.readouterr()
    assert exit_code == EXIT_OK and out.out.startswith("{\n  ")
    assert json.loads(out.out)["sale"]["state"] == "succeeded"

    # The body may come from stdin (a payment code stays out of `ps` and the shell history).
    monkeypatch.setattr("sys.stdin", io.StringIO('{"sale_id": "CLI1"}'))
    assert main(["ecr", "sale.get", "--body", "-", "--config", str(daemon.config), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["sale"]["out_trade_no"] == answer["sale"]["out_trade_no"]

    # The Unix socket works the same way; no body means {}.
    socket_path = str(daemon.config.parent / "ecr.sock")
    assert main(["ecr", "status.get", "--socket", socket_path, "--token-file", token_file(daemon), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["agent"]["epoch"] and status["network"]["online"] is True


def test_refusals_become_error_codes_and_exit_codes(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(daemon.config)]

    def refused(*argv: str) -> tuple[int, dict[str, Any]]:
        exit_code = main(["ecr", *argv, *config, "--json"])
        return exit_code, json.loads(capsys.readouterr().out)["error"]

    exit_code, error = refused("sale.get", "--body", '{"sale_id": "nope"}')
    assert (exit_code, error["code"], error["retryable"]) == (EXIT_BUSINESS, "NOT_FOUND", False)
    exit_code, error = refused("sale.start", "--body", '{"amount": "1"}')
    assert (exit_code, error["code"]) == (EXIT_USAGE, "BAD_REQUEST") and "sale_id" in error["message"]
    exit_code, error = refused("teleport")
    assert (exit_code, error["code"]) == (EXIT_USAGE, "UNKNOWN_OP")

    never = json.dumps(
        {"sale_id": "B1", "amount": "1", "subject": "Till 1", "code": example(Behaviour.NEVER_COMPLETES)}
    )
    assert main(["ecr", "sale.start", "--body", never, *config, "--json"]) == EXIT_OK
    capsys.readouterr()
    exit_code, error = refused("sale.start", "--body", '{"sale_id": "B2", "amount": "1", "subject": "Till 1"}')
    assert (exit_code, error["code"], error["retryable"]) == (EXIT_TRANSIENT, "BUSY", True)
    assert main(["ecr", "sale.cancel", "--body", '{"sale_id": "B1"}', *config, "--json"]) == EXIT_OK
    capsys.readouterr()

    wrong = daemon.config.parent / "wrong_token"
    wrong.write_text("not-" + TOKEN)
    exit_code = main(["ecr", "status.get", "--port", str(daemon.port), "--token-file", str(wrong)])
    err = capsys.readouterr().err
    assert exit_code == EXIT_SETUP and "UNAUTHORIZED" in err and TOKEN not in err


def test_no_agent_listening_is_a_retryable_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    exit_code = main(["ecr", "status.get", "--port", str(free_port()), "--token-file", str(token)])
    err = capsys.readouterr().err
    assert exit_code == EXIT_TRANSIENT and "UNREACHABLE" in err and "is it running" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--body", "{not json", "--port", "1", "--token-file", "t"], "--body is not valid JSON"),
        (["--body", "[1, 2]", "--port", "1", "--token-file", "t"], "--body must be a JSON object"),
        (["--port", "1", "--socket", "s", "--token-file", "t"], "not both"),
        (["--port", "1", "--token-file", "/nonexistent/token"], "cannot read the ECR token file"),
        (["--config", "/nonexistent/agent.toml"], "not found"),
        (["--until", "sale.final=true", "--port", "1", "--token-file", "t"], "--until needs --wait-event"),
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ecr", "status.get", *argv]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_until_matches_a_dotted_path_with_a_json_or_bare_value() -> None:
    assert parse_until("sale.final=true") == Until(("sale", "final"), True)
    assert parse_until("sale.state=succeeded").matches({"sale": {"state": "succeeded"}})
    assert not parse_until("sale.state=succeeded").matches({"sale": {"state": "paying"}})
    assert not parse_until("sale.attempt=1").matches({"sale": "not an object"})
    for bad in ("no-equals", "=1", "a..b=1"):
        with pytest.raises(argparse.ArgumentTypeError, match="PATH=VALUE"):
            parse_until(bad)


def test_another_program_at_the_address_is_a_set_up_problem_not_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("x" * 32)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)

        def answer_like_ssh() -> None:
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                    conn.recv(1024)

        thread = threading.Thread(target=answer_like_ssh, daemon=True)
        thread.start()
        port = server.getsockname()[1]
        exit_code = main(["ecr", "status.get", "--port", str(port), "--token-file", str(token), "--json"])
        thread.join(10)
    assert exit_code == EXIT_SETUP
    assert "does not speak the ECR protocol" in capsys.readouterr().out


def test_a_socket_this_user_may_not_open_is_a_set_up_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, whom file modes do not stop: the refusal the kernel gives other users is staged.
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("agent.cli.ecr.EcrClient.connect", refused)
    token = tmp_path / "token"
    token.write_text("x" * 32)
    exit_code = main(["ecr", "status.get", "--socket", str(tmp_path / "ecr.sock"), "--token-file", str(token)])
    assert exit_code == EXIT_SETUP
    printed = capsys.readouterr()
    assert "permission denied" in printed.out + printed.err
