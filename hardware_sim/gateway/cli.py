"""`posagent-sim gateway`: run the simulated Alipay gateway until SIGTERM/SIGINT.

The first stdout line is the gateway URL (flushed), so scripts can read it with `head -1`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import cert_cli
from .faults import FaultPlan
from .gateway import DEFAULT_MAX_CLOCK_SKEW
from .keys import PUBLIC_KEY_FILE, KeyFormatError
from .simulator import DEFAULT_AUTH_CODE_TTL, GatewaySimulator


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gateway",
        help="simulated Alipay OpenAPI gateway",
        description="Simulated Alipay OpenAPI gateway. Prints the gateway URL as its first line.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--state-dir", type=Path, help="keys and state survive restarts here (default: ephemeral)")
    parser.add_argument(
        "--app", action="append", default=[], metavar="APP_ID=PUBLIC_KEY_FILE", help="trust an app key (repeatable)"
    )
    parser.add_argument(
        "--max-clock-skew", type=float, default=DEFAULT_MAX_CLOCK_SKEW, metavar="SECONDS",
        help=f"allowed request timestamp skew vs China time (default {DEFAULT_MAX_CLOCK_SKEW:.0f})",
    )  # fmt: skip
    parser.add_argument(
        "--auth-code-ttl", type=float, default=DEFAULT_AUTH_CODE_TTL, metavar="SECONDS",
        help=f"lifetime of open-card auth codes (default {DEFAULT_AUTH_CODE_TTL:.0f})",
    )  # fmt: skip
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KEY=VALUE",
        help="fault injection: latency=S error_rate=P reset_rate=P drop_rate=P bad_sign_rate=P proxy_5xx_rate=P "
        "processed_5xx_rate=P outage=S methods=m1,m2 seed=N (repeatable)",
    )  # fmt: skip
    parser.add_argument("--faults-json", metavar="JSON_OR_FILE", help="fault plan as JSON text or a JSON file")
    parser.set_defaults(handler=run)
    # Optional actions on a running simulator; `posagent-sim gateway [options]` alone still runs one.
    cert_cli.register(parser.add_subparsers(dest="gateway_action", metavar="ACTION"))


def _apps(pairs: list[str]) -> dict[str, str]:
    apps: dict[str, str] = {}
    for pair in pairs:
        app_id, sep, path = pair.partition("=")
        if not sep or not app_id or not path:
            raise ValueError(f"--app expects APP_ID=PUBLIC_KEY_FILE, got {pair!r}")
        apps[app_id] = Path(path).read_text()
    return apps


def _faults(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.faults_json:
        text = args.faults_json
        if not text.lstrip().startswith("{"):
            text = Path(text).read_text()
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("--faults-json must be a JSON object")
        data.update(loaded)
    for pair in args.fault:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--fault expects KEY=VALUE, got {pair!r}")
        data[key.strip()] = value.strip()
    FaultPlan.from_mapping(data)  # validate now, with a clear message
    return data


def run(args: argparse.Namespace) -> int:
    try:
        simulator = GatewaySimulator(
            state_dir=args.state_dir,
            apps=_apps(args.app),
            host=args.host,
            port=args.port,
            max_clock_skew=args.max_clock_skew,
            auth_code_ttl=args.auth_code_ttl,
            faults=_faults(args),
        )
    except (OSError, ValueError, KeyFormatError) as exc:
        print(f"posagent-sim gateway: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with simulator:
        print(simulator.url, flush=True)
        key_note = (
            str(args.state_dir / PUBLIC_KEY_FILE)
            if args.state_dir
            else f"ephemeral (no --state-dir): GET {simulator.base_url}/__admin/health"
        )
        print(f"alipay public key: {key_note}", flush=True)
        print(f"apps: {', '.join(simulator.gateway.app_ids()) or '(none yet: POST /__admin/apps)'}", flush=True)
        print(f"admin: {simulator.base_url}/__admin/inspect  faults: {simulator.faults.to_dict()}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0
