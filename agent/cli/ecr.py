"""`posagent ecr OP`: send one ECR protocol request to the running agent, as a till would.

For technicians: check the agent answers (`status.get`), look a sale up (`sale.get`), or run a
whole sale and wait for its outcome:

    posagent ecr status.get
    posagent ecr sale.get --body '{"sale_id": "A1"}'
    posagent ecr sale.start --body '{"sale_id": "T1", "amount": "0.01", "subject": "test", "code": "28..."}' \\
        --wait-event sale.updated --until sale.final=true

The address and token come from the agent config ([ecr] tcp_port / unix_socket, token_file) unless
given here. Exit codes: 0 answered; 1 refused (NOT_FOUND, IDEMPOTENCY_CONFLICT, ALREADY_FINAL);
2 bad arguments or request (BAD_REQUEST, UNKNOWN_OP); 3 set-up (UNAUTHORIZED: wrong token file;
another program at the address; no permission on the socket);
4 try again (agent not reachable, BUSY, network or device unavailable, no event in time).
Web POS pages (the ECR protocol over WebSocket, [ecr] websocket_port) are allowed per origin:

    posagent ecr pair --origin https://pos.example.com   (a one-time code to enter in the web POS)
    posagent ecr origins list
    posagent ecr origins revoke https://pos.example.com

See docs/ecr-protocol.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.cli import ecr_origins
from agent.cli.common import EXIT_BUSINESS, EXIT_OK, EXIT_SETUP, EXIT_TRANSIENT, EXIT_USAGE, add_output_options
from agent.config import ConfigError, load_config
from agent.ecr.client import EcrClient, EcrError

_USAGE_ERRORS = frozenset({"BAD_REQUEST", "UNKNOWN_OP", "UNSUPPORTED_VERSION"})
_SETUP_ERRORS = frozenset({"UNAUTHORIZED"})


class UsageError(Exception):
    """Arguments or config that cannot work: a clear message and EXIT_USAGE."""


@dataclass(frozen=True)
class Target:
    """Where the agent listens and the token it expects."""

    address: tuple[str, int] | Path
    token: str

    @property
    def where(self) -> str:
        return str(self.address) if isinstance(self.address, Path) else f"{self.address[0]}:{self.address[1]}"


@dataclass(frozen=True)
class Until:
    """`--until PATH=VALUE`: a dotted path into the event body and the JSON value it must have."""

    path: tuple[str, ...]
    value: Any

    def matches(self, body: dict[str, Any]) -> bool:
        node: Any = body
        for key in self.path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return bool(node == self.value)


def parse_until(text: str) -> Until:
    path, sep, raw = text.partition("=")
    if not sep or not path or any(not part for part in path.split(".")):
        raise argparse.ArgumentTypeError("expects PATH=VALUE, e.g. sale.final=true or sale.state=succeeded")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # a bare word is a string: sale.state=succeeded
    return Until(tuple(path.split(".")), value)


def parse_body(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if text == "-":
        # From stdin: a payment code typed into a command line would stay in the shell history and `ps`.
        text = sys.stdin.read()
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError('--body must be a JSON object, e.g. \'{"sale_id": "A1"}\'')
    return body


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ecr", help="send one ECR protocol request to the running agent (as the till would)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("op", help="the operation: status.get, sale.start, sale.get, sale.cancel, outbox.list, ...; "
                                   "or pair, origins (web POS pages)")  # fmt: skip
    parser.add_argument("words", nargs="*", metavar="ARG", help="origins: list, or revoke ORIGIN")
    parser.add_argument("--origin", metavar="URL", help="pair: the web POS origin, e.g. https://pos.example.com")
    parser.add_argument("--body", metavar="JSON", help="the request body, a JSON object (default {}); - reads stdin")
    where = parser.add_argument_group("where the agent listens (default: from the config file)")
    where.add_argument("--config", metavar="FILE",
                       help="agent config (default $POSAGENT_CONFIG or /etc/posagent/agent.toml)")  # fmt: skip
    where.add_argument("--port", type=int, metavar="PORT", help="TCP port on 127.0.0.1 (instead of the config's)")
    where.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    where.add_argument("--socket", metavar="PATH", help="Unix socket (instead of the config's)")
    where.add_argument("--token-file", metavar="FILE", help="the ECR token file (instead of the config's)")
    parser.add_argument("--wait-event", metavar="NAME", help="after the answer, wait for this event and print it")
    parser.add_argument("--until", metavar="PATH=VALUE", type=parse_until,
                        help="with --wait-event: the first such event whose body has this value, "
                             "e.g. sale.final=true")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait for the answer and the event (default 60)")  # fmt: skip
    add_output_options(parser)
    parser.set_defaults(handler=run)


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        hint = "run as root or as the agent's user"
        raise UsageError(f"cannot read the ECR token file {path}: {exc.strerror} ({hint})") from None
    if not token:
        raise UsageError(f"the ECR token file {path} is empty")
    return token


def resolve_target(args: argparse.Namespace) -> Target:
    """Flags first; whatever they leave open comes from the config ([ecr] section)."""
    if args.port is not None and args.socket:
        raise UsageError("give --port or --socket, not both")
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError("--port must be 1-65535")
    address: tuple[str, int] | Path | None = None
    if args.port is not None:
        address = (args.host, args.port)
    elif args.socket:
        address = Path(args.socket)
    token_file = Path(args.token_file) if args.token_file else None
    if address is None or token_file is None:
        try:
            ecr = load_config(args.config).ecr
        except ConfigError as exc:
            raise UsageError(f"{exc} (or give --port/--socket and --token-file)") from None
        token_file = token_file or ecr.token_file
        if address is None:
            if ecr.tcp_port:
                address = (ecr.tcp_host, ecr.tcp_port)
            elif ecr.unix_socket is not None:
                address = ecr.unix_socket
            else:
                raise UsageError("the config enables neither [ecr] tcp_port nor unix_socket")
    return Target(address, read_token(token_file))


def run(args: argparse.Namespace) -> int:
    if args.op in ecr_origins.ORIGIN_COMMANDS:
        return ecr_origins.run(args)
    if args.words or args.origin:
        return _failed(args, EXIT_USAGE, "USAGE", f"{args.op} takes no further arguments (--body JSON gives the "
                                                  "request body)")  # fmt: skip
    try:
        body = parse_body(args.body)
        if args.until is not None and not args.wait_event:
            raise UsageError("--until needs --wait-event NAME")
        target = resolve_target(args)
    except UsageError as exc:
        return _failed(args, EXIT_USAGE, "USAGE", str(exc))
    try:
        with EcrClient.connect(target.address, token=target.token, client="posagent-ecr", timeout=args.timeout) as ecr:
            ecr.events.clear()  # only events caused after our request count for --wait-event
            answer = ecr.request(args.op, body, timeout=args.timeout)
            _print(args, answer)
            if args.wait_event:
                until: Until | None = args.until
                event = ecr.wait_for(args.wait_event, until.matches if until else lambda _: True,
                                     timeout=args.timeout)  # fmt: skip
                _print(args, event)
    except EcrError as exc:
        return _failed(args, _exit_code(exc), exc.code, exc.message, exc.retryable)
    except TimeoutError:
        what = f"no {args.wait_event} event" if args.wait_event else "no answer"
        return _failed(args, EXIT_TRANSIENT, "TIMEOUT", f"{what} from the agent at {target.where} within "
                                                        f"{args.timeout:g} s", True)  # fmt: skip
    except PermissionError:  # the socket's group: running again as the same user never gets in
        message = (f"the agent at {target.where}: permission denied (add this user to the socket's group, "
                   "[ecr] unix_group, and log in again; or use --port)")
        return _failed(args, EXIT_SETUP, "UNREACHABLE", message, False)
    except OSError as exc:  # refused, reset, missing socket file, closed by the agent
        reason = exc.strerror or str(exc) or type(exc).__name__
        message = f"the agent at {target.where}: {reason} (is it running? systemctl status posagent)"
        return _failed(args, EXIT_TRANSIENT, "UNREACHABLE", message, True)
    except ValueError:
        # Another program at that address: a wrong port or socket in the set-up, not a passing fault.
        return _failed(args, EXIT_SETUP, "INTERNAL", f"the peer at {target.where} does not speak the ECR protocol "
                                                     "(another program at this address? check --port / --socket "
                                                     "and [ecr] in the config)")  # fmt: skip
    return EXIT_OK


def _exit_code(error: EcrError) -> int:
    if error.code in _USAGE_ERRORS:
        return EXIT_USAGE
    if error.code in _SETUP_ERRORS:
        return EXIT_SETUP
    return EXIT_TRANSIENT if error.retryable else EXIT_BUSINESS


def _print(args: argparse.Namespace, data: dict[str, Any]) -> None:
    # --json: one compact object per line (scripts, jq); otherwise indented for people.
    print(json.dumps(data, ensure_ascii=False, indent=None if args.json else 2), flush=True)


def _failed(args: argparse.Namespace, exit_code: int, code: str, message: str, retryable: bool = False) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": {"code": code, "message": message, "retryable": retryable}},
                         ensure_ascii=False))  # fmt: skip
    else:
        print(f"error: {code}: {message}" + (" (retryable)" if retryable else ""), file=sys.stderr)
    return exit_code
