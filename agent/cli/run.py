"""`posagent run`: the daemon (systemd runs this), and `posagent config check`.

Both run the same preflight (agent.daemon.preflight), so check refuses exactly what run refuses, in
the same words: one line per problem, `error: CONFIG: SETTING: what is wrong`.

Exit codes of `run` (and of `config check`):
  0  stopped cleanly (check: the set-up is fine)
  2  refused before start: a setting, a file it names, the state folder, a taken port (the message says which)
  3  the database cannot be used (corrupt: moved aside and kept; disk full; not writable)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, ConfigError, Problem, alipay_cert_store, load_config, load_credentials
from agent.config.load import config_path
from agent.daemon import logs
from agent.daemon.app import serve
from agent.daemon.preflight import Identity, Mode, SecretFileError, StartRefused, preflight
from offline_queue import OutboxError

from .common import EXIT_OK, EXIT_SETUP, EXIT_USAGE, add_output_options, emit

EXIT_REFUSED = EXIT_USAGE  # 2: refused before start (config, files, folders, ports)
EXIT_DATABASE = EXIT_SETUP  # 3: the database cannot be used
EXIT_BUG = 1  # an unexpected error: a bug in the agent (the log has the details)

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run the agent (what the systemd unit starts)", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    run.add_argument("--config", metavar="FILE", help="default $POSAGENT_CONFIG or /etc/posagent/agent.toml")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-module", action="append", default=[], metavar="MODULE=LEVEL",
                     help="per-module log level, e.g. agent.ecr=DEBUG (repeatable)")  # fmt: skip
    run.set_defaults(handler=cmd_run)

    config = subparsers.add_parser("config", help="check the configuration")
    sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check", help="refuse what `posagent run` would refuse at start, in the same words, without starting",
        description="Checks the config file, the files it names (token, keys, outbox key), the state folder and "
        "its disk, the ECR socket's group and the listening ports, as `posagent run` does before it starts. "
        "Run as root, it judges permissions for the service user (posagent). A port held by the running agent "
        "is fine (it frees it when restarted). Exit code 0: OK; 2: refused (one line per problem).",
    )  # fmt: skip
    check.add_argument("--config", metavar="FILE")
    add_output_options(check)
    check.set_defaults(handler=cmd_check)


def refusal_lines(source: str, problems: list[Problem]) -> list[str]:
    """The words both commands print: one line per problem, naming the config file and the setting."""
    return [f"error: {source}: {problem}" for problem in problems]


def _print_refusal(source: str, problems: list[Problem]) -> None:
    for line in refusal_lines(source, problems):
        print(line, file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    levels: dict[str, str] = {}
    for item in args.log_module:
        name, _, level = item.partition("=")
        if not name or level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            print(f"error: --log-module expects MODULE=LEVEL, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        levels[name] = level
    source = str(config_path(args.config))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _print_refusal(source, exc.problems)
        return EXIT_REFUSED
    problems = preflight(config, who=Identity.current(), mode=Mode.RUN)
    if problems:
        _print_refusal(source, problems)
        return EXIT_REFUSED
    # Logging starts once the config is read: the log file lives in its state_dir (reading the config
    # logs nothing, and its errors go to stderr).
    logs.configure(args.log_level, levels, config.paths.state_dir / "logs" / "agent.log")
    try:
        return asyncio.run(serve(config))
    except ConfigError as exc:  # the files changed between the preflight and the start
        _print_refusal(source, exc.problems)
        return EXIT_REFUSED
    except SecretFileError as exc:
        _print_refusal(source, [exc.problem])
        return EXIT_REFUSED
    except StartRefused as exc:
        _print_refusal(source, exc.problems)
        return EXIT_REFUSED
    except OutboxError as exc:  # corrupt database (moved aside, kept), disk full, not writable
        print(f"error: the agent's database cannot be used: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except Exception as exc:  # a bug: the details go to the log, one line to the operator
        log.critical("the agent stopped on an unexpected error", exc_info=True)
        print(f"error: the agent stopped on an unexpected error ({type(exc).__name__}: {exc}); this is a bug: "
              f"send `posagent support-bundle` to the developers", file=sys.stderr)  # fmt: skip
        return EXIT_BUG


def cmd_check(args: argparse.Namespace) -> int:
    source = str(config_path(args.config))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _check_failed(args, source, exc.problems)
    problems = preflight(config, who=Identity.for_check(), mode=Mode.CHECK)
    if problems:
        return _check_failed(args, source, problems)
    warnings = [f"warning: {source}: {line}" for line in certificate_warnings(config)]
    if not getattr(args, "json", False):
        for line in warnings:
            print(line, file=sys.stderr)
    emit(args, {"ok": True, "config": source, "warnings": warnings}, f"configuration OK: {Path(source)}")
    return EXIT_OK


def certificate_warnings(config: AgentConfig) -> list[str]:
    """Certificate mode: each certificate ending within 30 days (the preflight already refused the rest)."""
    if not config.alipay.cert_mode:
        return []
    try:
        mode = load_credentials(config.alipay, cert_store=alipay_cert_store(config.paths.state_dir)).cert_mode
    except ConfigError:
        return []  # reported by the preflight
    if mode is None:
        return []
    now = datetime.now(UTC)
    notice = mode.stand_in_notice()
    stand_in = [f"alipay.alipay_cert_file: {notice}; download the current one from the Alipay console and "
                "replace the file (docs/operations.md, Certificate mode)"] if notice else []  # fmt: skip
    return stand_in + [f"alipay.{key}: the {what} expires on {end:%Y-%m-%d} ({(end - now).days} days); renew it "
                       "in the Alipay console and replace the file (docs/operations.md, Certificate mode)"
                       for key, what, end in mode.expiring(now, mode.EXPIRY_WARNING)]  # fmt: skip


def _check_failed(args: argparse.Namespace, source: str, problems: list[Problem]) -> int:
    lines = refusal_lines(source, problems)
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "config": source,
                          "error": {"message": "\n".join(lines), "problems": [str(p) for p in problems]}},
                         ensure_ascii=False))  # fmt: skip
    else:
        for line in lines:
            print(line, file=sys.stderr)
    return EXIT_REFUSED
