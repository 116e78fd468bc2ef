"""`posagent run`: the daemon (systemd runs this), and `posagent config check`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from agent.config import ConfigError, load_config, load_credentials
from agent.daemon import logs
from agent.daemon.app import SecretFileError, serve
from offline_queue import OutboxError

from .common import EXIT_OK, EXIT_SETUP, EXIT_USAGE, add_output_options, emit, fail


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run the agent (what the systemd unit starts)")
    run.add_argument("--config", metavar="FILE", help="default $POSAGENT_CONFIG or /etc/posagent/agent.toml")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-module", action="append", default=[], metavar="MODULE=LEVEL",
                     help="per-module log level, e.g. agent.ecr=DEBUG (repeatable)")  # fmt: skip
    run.set_defaults(handler=cmd_run)

    config = subparsers.add_parser("config", help="check the configuration")
    sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate the config file and the files it names, without starting")
    check.add_argument("--config", metavar="FILE")
    add_output_options(check)
    check.set_defaults(handler=cmd_check)


def cmd_run(args: argparse.Namespace) -> int:
    levels: dict[str, str] = {}
    for item in args.log_module:
        name, _, level = item.partition("=")
        if not name or level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            print(f"error: --log-module expects MODULE=LEVEL, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        levels[name] = level
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Logging starts once the config is read: the log file lives in its state_dir (reading the config
    # logs nothing, and its errors go to stderr).
    logs.configure(args.log_level, levels, config.paths.state_dir / "logs" / "agent.log")
    try:
        return asyncio.run(serve(config))
    except (ConfigError, SecretFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OutboxError as exc:  # missing or open at-rest key, corrupt database (moved aside, kept)
        print(f"error: the agent's database cannot be used: {exc}", file=sys.stderr)
        return EXIT_SETUP


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        load_credentials(config.alipay)
    except ConfigError as exc:
        return fail(args, EXIT_USAGE, str(exc), {"problems": [str(p) for p in exc.problems]})
    emit(args, {"ok": True}, "configuration OK")
    return EXIT_OK
