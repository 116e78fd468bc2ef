"""`posagent support-bundle`: one archive for support, secrets removed.

Writes posagent-support-STORE-TILL-TIME.tar.gz (mode 0600) with versions, the config without its
secrets, the doctor's report, the outbox's counts and dead jobs (no payloads), devices, a few
facts about this PC and the recent logs. Key files, the token file and the database never go in.
A part that cannot be collected is noted in its README.txt; the bundle is written anyway.

Exit code: 0 when the bundle is written, 1 when it could not be written at all (an --output whose
folder does not exist is said at once, before anything is gathered).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.cli.common import OutputPathError, default_config_hint, output_file
from agent.config.load import config_path
from agent.support import DEFAULT_SINCE_HOURS, BundleError, build_bundle

EXIT_WRITTEN = 0
EXIT_NOT_WRITTEN = 1


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 hours")
    return value


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "support-bundle", help="write a .tar.gz for support: versions, config, doctor, outbox, logs (no secrets)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--config", metavar="FILE", help=f"agent config (default {default_config_hint()})")
    parser.add_argument("--output", metavar="FILE", help="where to write it (a directory or a file name; "
                        "default: the current directory)")  # fmt: skip
    parser.add_argument("--no-doctor", action="store_true", help="skip the doctor (it can take seconds offline)")
    parser.add_argument("--since-hours", type=_hours, default=DEFAULT_SINCE_HOURS, metavar="N",
                        help=f"logs of the last N hours (default {DEFAULT_SINCE_HOURS:g}, at most 5 MiB)")  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        # A folder stays a folder (default_name ""): the bundle names its own file in it.
        output = output_file(args.output, default_name="") if args.output else None
    except OutputPathError as exc:
        print(f"error: cannot write the bundle: {exc}", file=sys.stderr)
        return EXIT_NOT_WRITTEN
    try:
        result = build_bundle(config_path(args.config), output, doctor=not args.no_doctor,
                              since_hours=args.since_hours)  # fmt: skip
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_WRITTEN
    print(result.path)
    print(result.summary)
    return EXIT_WRITTEN
