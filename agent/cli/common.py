"""What every command shares: config and gateway options, JSON output, errors explained, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from agent.alipay import AlipayClient, AlipayError, Timeouts
from agent.alipay.errors import BusinessError, ConfigurationError, NoAnswerError, SignatureMismatchError
from agent.config import AgentConfig, AlipaySettings, ConfigError, alipay_cert_store, load_config, load_credentials
from agent.config.load import config_path

T = TypeVar("T")

# Exit codes, documented in `posagent --help` epilogs and docs/.
EXIT_OK = 0
EXIT_BUSINESS = 1  # Alipay said no (definite)
EXIT_USAGE = 2  # bad arguments, bad config, bad input file
EXIT_SETUP = 3  # the set-up is wrong (key, app id, permission, clock, gateway URL): running again cannot fix it
EXIT_TRANSIENT = 4  # unreachable or unknown outcome: retry later, the same command is safe

# HTTP statuses from something on the way that may pass: a timeout, a rate limit. Any other 4xx means the
# gateway URL does not lead to Alipay's gateway (Alipay answers every call with 200), which no retry fixes.
_PASSING_HTTP_4XX = frozenset({408, 425, 429})


class OutputPathError(ValueError):
    """An output path that cannot be written as meant: said before any work is done."""


def output_file(text: str, default_name: str | None = None) -> Path:
    """Where a command writes its file. A path ending in '/' or naming a folder means "in this folder"
    (under `default_name`; a command without one needs a file name), and the folder must exist: Path()
    drops a trailing '/', which would otherwise turn `--output /missing-dir/` into a file named missing-dir."""
    path = Path(text)
    meant_as_folder = text.endswith(("/", os.sep)) or path.is_dir()
    if meant_as_folder:
        if not path.is_dir():
            raise OutputPathError(f"{text}: no such folder (create it first, or give a file name)")
        if default_name is None:
            raise OutputPathError(f"{text} is a folder: give a file name")
        return path / default_name
    if not path.parent.is_dir():
        raise OutputPathError(f"{text}: the folder {path.parent} does not exist (create it first)")
    return path


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_gateway_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Alipay app (from the config file unless given here)")
    group.add_argument(
        "--config", metavar="FILE", help="agent config (default $POSAGENT_CONFIG or /etc/posagent/agent.toml)"
    )
    group.add_argument("--app-id", help="overrides alipay.app_id")
    group.add_argument("--gateway", help="overrides alipay.gateway: production, sandbox or a URL")
    group.add_argument("--private-key", metavar="FILE", help="overrides alipay.app_private_key_file")
    group.add_argument("--alipay-public-key", metavar="FILE", help="overrides alipay.alipay_public_key_file")
    add_output_options(parser)


def alipay_settings(args: argparse.Namespace) -> AlipaySettings:
    """The config file's [alipay] section with command-line overrides; flags alone are enough."""
    return alipay_setup(args)[0]


def alipay_setup(args: argparse.Namespace) -> tuple[AlipaySettings, Path | None]:
    """`alipay_settings`, and the config's state_dir (None when flags alone were given): in certificate
    mode the commands share the daemon's store of Alipay's rotated certificates."""
    overrides = {"app_id": args.app_id, "gateway": args.gateway, "app_private_key_file": args.private_key,
                 "alipay_public_key_file": args.alipay_public_key}  # fmt: skip
    flags_complete = all(overrides[k] for k in ("app_id", "app_private_key_file", "alipay_public_key_file"))
    if flags_complete and not args.config:
        settings = AlipaySettings(app_id=args.app_id, app_private_key_file=Path(args.private_key),
                                  alipay_public_key_file=Path(args.alipay_public_key))  # fmt: skip
        state_dir = None
    else:
        config = load_config(args.config)
        settings, state_dir = config.alipay, config.paths.state_dir
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if value:
            changes[key] = Path(value) if key.endswith("_file") else value
    return replace(settings, **changes), state_dir


def agent_config(args: argparse.Namespace) -> AgentConfig:
    return load_config(getattr(args, "config", None))


def make_client(settings: AlipaySettings, state_dir: Path | None = None) -> AlipayClient:
    """The client of the commands. Certificate mode with a state_dir: Alipay certificates rotated to
    since are trusted at once, and one downloaded now is kept there for the daemon and the next command."""
    store = alipay_cert_store(state_dir) if settings.cert_mode and state_dir is not None else None
    credentials = load_credentials(settings, cert_store=store)
    timeouts = Timeouts(connect=settings.connect_timeout, read=settings.read_timeout)
    return AlipayClient(credentials, settings.gateway, timeouts=timeouts,
                        cert_sink=store.save if store is not None else None)  # fmt: skip


def emit(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(human)


def fail(args: argparse.Namespace, code: int, message: str, detail: dict[str, Any] | None = None) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": {"message": message, **(detail or {})}}, ensure_ascii=False))
    else:
        print(f"error: {message}", file=sys.stderr)
    return code


def explain_alipay_error(args: argparse.Namespace, error: AlipayError) -> int:
    """Code, sub_code and what to do, then the exit code of its class."""
    code = exit_code_for(error)
    if code == EXIT_SETUP and isinstance(error, NoAnswerError) and not error.hint:
        error.hint = "check alipay.gateway: production, sandbox or the URL of Alipay's gateway"
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": error.to_dict()}, ensure_ascii=False))
        return code
    lines = [f"error: {error.method} failed ({_KIND_WORDS.get(error.kind, error.kind.replace('_', ' '))}): "
             f"{error.message}"]  # fmt: skip
    if error.code or error.sub_code:
        lines.append(f"  code: {error.code or '-'}  sub_code: {error.sub_code or '-'}")
    if error.sub_msg:
        lines.append(f"  Alipay says: {error.sub_msg}")
    if error.hint:
        lines.append(f"  what to do: {error.hint}")
    if code == EXIT_TRANSIENT:
        lines.append("  the command is safe to run again: it reuses the same request ids")
    print("\n".join(lines), file=sys.stderr)
    return code


def exit_code_for(error: AlipayError) -> int:
    """The exit code of an Alipay error's class. Only what running the same command again can fix is
    EXIT_TRANSIENT: a reply that does not verify with the configured Alipay key, or a gateway URL that
    answers 404, is a set-up problem however often it is tried."""
    if isinstance(error, BusinessError):
        return EXIT_BUSINESS
    if isinstance(error, ConfigurationError | SignatureMismatchError):
        return EXIT_SETUP
    status = error.http_status
    if isinstance(error, NoAnswerError) and status is not None and 400 <= status < 500:
        return EXIT_TRANSIENT if status in _PASSING_HTTP_4XX else EXIT_SETUP
    return EXIT_TRANSIENT


# The model's kinds in words; the two kinds under "unknown outcome" say so first.
_KIND_WORDS = {"no_answer": "unknown outcome, no answer", "unverified_response": "unknown outcome, unverified reply"}


def run_with_client(
    args: argparse.Namespace, body: Callable[[AlipayClient], Awaitable[int]]
) -> int:
    """Load settings, open a client, run `body`, and turn every failure into a clear message and exit code."""
    try:
        client = make_client(*alipay_setup(args))
    except ConfigError as exc:
        return fail(args, EXIT_USAGE, str(exc), {"problems": [str(p) for p in exc.problems]})

    async def go() -> int:
        async with client:
            return await body(client)

    try:
        return asyncio.run(go())
    except AlipayError as exc:
        return explain_alipay_error(args, exc)


def default_config_hint() -> str:
    return str(config_path())
