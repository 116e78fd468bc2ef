"""`posagent keys generate`: a new app key pair for the Alipay console."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.alipay.keys import CsrSubject, generate_app_key_pair

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
    generate.add_argument("--csr", action="store_true",
                          help="certificate mode: also write a certificate request (CSR) to upload to the console")
    generate.add_argument("--app-id", help="with --csr: the app id, the request's common name")
    generate.add_argument("--org", help="with --csr: the organisation (company) name registered with Alipay")
    add_output_options(generate)
    generate.set_defaults(handler=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    subject = None
    if args.csr:
        if not args.app_id or not args.org:
            return fail(args, EXIT_USAGE, "--csr needs --app-id and --org (the names the certificate is issued to)")
        if not (args.app_id.isascii() and args.app_id.isdigit() and len(args.app_id) == 16):
            return fail(args, EXIT_USAGE, "--app-id is the 16-digit app id from the Alipay console")
        if not args.org.strip() or len(args.org) > 64:
            return fail(args, EXIT_USAGE, "--org is the organisation name (1-64 characters)")
        subject = CsrSubject(args.app_id, args.org.strip())
    try:
        pair = generate_app_key_pair(args.out, overwrite=args.force, csr_subject=subject)
    except (FileExistsError, PermissionError, NotADirectoryError) as exc:
        return fail(args, EXIT_USAGE, str(exc))
    if pair.csr_path is not None:
        emit(
            args,
            {"ok": True, "private_key_file": str(pair.private_key_path), "public_key_file": str(pair.public_key_path),
             "csr_file": str(pair.csr_path)},
            f"private key: {pair.private_key_path} (mode 0600: keep it on this PC, never send it)\n"
            f"CSR:         {pair.csr_path}\n\n"
            "Upload the CSR in the Alipay console (app settings -> interface signing -> public-key certificate\n"
            "mode), then download the three files it gives back and name them in [alipay]:\n"
            "  app_cert_file         = appCertPublicKey_<app id>.crt\n"
            "  alipay_cert_file      = alipayCertPublicKey_RSA2.crt\n"
            "  alipay_root_cert_file = alipayRootCert.crt\n"
            "(and no alipay_public_key_file). Then: posagent config check && posagent doctor",
        )  # fmt: skip
        return EXIT_OK
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
