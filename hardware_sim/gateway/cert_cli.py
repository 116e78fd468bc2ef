"""`posagent-sim gateway register-cert-app | rotate-alipay-cert`: certificate mode of a running simulator.

Both talk to the simulator's loopback admin API (`--url`, the gateway URL it printed first); bad
input or an unreachable simulator gives one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

from .admin import GatewayAdmin
from .certmode import ALIPAY_CERT_FILE


def register(subparsers: Any) -> None:
    register_app: argparse.ArgumentParser = subparsers.add_parser(
        "register-cert-app",
        help="register an app in certificate mode from its CSR and write the three certificate files",
        description="The simulator (as CA) issues the app certificate from the CSR and returns "
        "appCertPublicKey_APP_ID.crt, alipayCertPublicKey_RSA2.crt and alipayRootCert.crt, written to --out.",
    )
    register_app.add_argument("--url", required=True, help="the running simulator's gateway URL")
    register_app.add_argument("--app-id", required=True, help="the app id (1-32 letters, digits, '_' or '-')")
    register_app.add_argument("--csr", required=True, type=Path, help="the app's certificate signing request (PEM)")
    register_app.add_argument("--out", required=True, type=Path, help="directory for the three .crt files")
    register_app.set_defaults(handler=run_register)
    rotate: argparse.ArgumentParser = subparsers.add_parser(
        "rotate-alipay-cert",
        help="switch the simulator to a new Alipay public-key certificate (old ones stay downloadable)",
        description="Replies are signed with a new Alipay certificate (new key, new serial, same root) from now on.",
    )
    rotate.add_argument("--url", required=True, help="the running simulator's gateway URL")
    rotate.add_argument("--out", type=Path, help=f"also write the new {ALIPAY_CERT_FILE} here")
    rotate.set_defaults(handler=run_rotate)


def run_register(args: argparse.Namespace) -> int:
    def act() -> int:
        csr = args.csr.read_text()
        reply = GatewayAdmin(args.url).register_cert_app(args.app_id, csr)
        written = _write(args.out, reply["files"])
        print(f"app_cert_sn: {reply['app_cert_sn']}")
        print(f"alipay_cert_sn: {reply['alipay_cert_sn']}")
        print(f"alipay_root_cert_sn: {reply['alipay_root_cert_sn']}")
        for path in written:
            print(f"wrote {path}")
        return 0

    return _guarded("register-cert-app", act)


def run_rotate(args: argparse.Namespace) -> int:
    def act() -> int:
        reply = GatewayAdmin(args.url).rotate_alipay_cert()
        print(f"alipay_cert_sn: {reply['alipay_cert_sn']}")
        if args.out is not None:
            for path in _write(args.out, {ALIPAY_CERT_FILE: reply["files"][ALIPAY_CERT_FILE]}):
                print(f"wrote {path}")
        return 0

    return _guarded("rotate-alipay-cert", act)


def _write(directory: Path, files: dict[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / Path(name).name  # names come from the simulator; never let them leave DIR
        path.write_text(text)
        written.append(path)
    return written


def _guarded(command: str, act: Any) -> int:
    try:
        return int(act())
    except HTTPError as exc:
        print(f"posagent-sim gateway {command}: {_admin_error(exc)}", file=sys.stderr)
    except (URLError, OSError, ValueError, KeyError) as exc:
        print(f"posagent-sim gateway {command}: {exc}", file=sys.stderr)
    return 2


def _admin_error(exc: HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"HTTP {exc.code}"
