"""`posagent-sim customer open-card URL --mobile M --name N`: the simulated customer from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .customer import CustomerError, mask_mobile, open_card


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("customer", help="simulated Alipay customer")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    open_parser = actions.add_parser("open-card", help="follow an activation URL, fill the form, hit the callback")
    open_parser.add_argument("url", help="activation URL (apply_card_url, URL-encoded or not)")
    open_parser.add_argument("--mobile", required=True)
    open_parser.add_argument("--name", required=True)
    open_parser.add_argument("--gender")
    open_parser.add_argument("--birthday", help="yyyy-MM-dd")
    open_parser.add_argument("--no-follow", action="store_true", help="do not GET the merchant callback URL")
    open_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    open_parser.add_argument("--timeout", type=float, default=10.0)
    open_parser.set_defaults(handler=run_open_card)


def run_open_card(args: argparse.Namespace) -> int:
    try:
        result = open_card(
            args.url, mobile=args.mobile, name=args.name, gender=args.gender, birthday=args.birthday,
            follow_callback=not args.no_follow, timeout=args.timeout,
        )  # fmt: skip
    except CustomerError as exc:
        print(f"posagent-sim customer: {exc}", file=sys.stderr)
        return 1
    # The callback carries a short-lived auth_code, which the caller needs; the mobile stays masked.
    summary = {
        "mobile": mask_mobile(args.mobile),
        "callback_url": result.callback_url,
        "params": result.params,
        "callback_status": result.callback_status,
        "error": result.error,
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(result.callback_url or "(no callback configured)")
        for key, value in summary.items():
            if key != "callback_url":
                print(f"{key}: {value}")
    return 0 if result.error is None else 1
