"""`posagent keys generate`: a new app key pair for the Alipay console."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.alipay.keys import generate_app_key_pair

from .common import EXIT_OK, EXIT_USAGE, add_output_options, emit, fail

ALIPAY_PUBLIC_KEY_FILENAME = "alipay_public_key.pem"  # beside the app's keys, as deploy/agent.example.toml names it


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="app key pairs for the Alipay console")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    generate = sub.add_parser(
        "generate",
        help="write a new RSA-2048 app key pair and print the public key to paste into the Alipay console",
    )
    generate.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the key files")
    generate.add_argument("--force", action="store_true", help="replace existing key files (dangerous)")
    add_output_options(generate)
    generate.set_defaults(handler=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    try:
        pair = generate_app_key_pair(args.out, overwrite=args.force)
    except (FileExistsError, PermissionError, NotADirectoryError) as exc:
        return fail(args, EXIT_USAGE, str(exc))
    emit(
        args,
        {"ok": True, "private_key_file": str(pair.private_key_path), "public_key_file": str(pair.public_key_path),
         "public_key": pair.public_key_one_line,
         "alipay_public_key_file": str(pair.private_key_path.parent / ALIPAY_PUBLIC_KEY_FILENAME)},
        f"private key: {pair.private_key_path} (mode 0600: keep it on this PC, never send it)\n"
        f"public key:  {pair.public_key_path}\n\n"
        "Paste this public key into the Alipay console (app settings -> interface signing -> public key mode),\n"
        f"then save the Alipay public key it shows you as {pair.private_key_path.parent / ALIPAY_PUBLIC_KEY_FILENAME}\n"
        "(the config's alipay_public_key_file; docs/merchant-setup.md, step 2):\n\n"
        f"{pair.public_key_one_line}",
    )
    return EXIT_OK
