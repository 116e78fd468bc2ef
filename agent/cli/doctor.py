"""`posagent doctor`: check the whole set-up and explain each problem with what to do.

Each finding is OK, WARN (works, but will bite) or FAIL (the agent cannot do its job), with the
fix under it. Nothing is changed: the database is opened as an observer, devices only opened
and closed, and the gateway asked one harmless query. Secrets are never printed.

Exit code: 0 when nothing FAILs, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agent.cli.common import add_output_options, default_config_hint
from agent.doctor import CHECK_NAMES, Report, Status, run_doctor

EXIT_HEALTHY = 0
EXIT_PROBLEMS = 1
NAME_COLUMN = 18  # longer names (device paths) push their message right instead of widening every line


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor", help="check config, keys, gateway, clock, ECR port, database, devices and service",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--config", metavar="FILE", help=f"agent config (default {default_config_hint()})")
    parser.add_argument("--only", nargs="+", action="extend", choices=CHECK_NAMES, metavar="NAME",
                        help="run only these checks: " + ", ".join(CHECK_NAMES))  # fmt: skip
    add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    report = run_doctor(args.config, only=args.only or ())
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(render(report))
    return EXIT_HEALTHY if report.ok else EXIT_PROBLEMS


def render(report: Report) -> str:
    """One line per finding; the fix indented under WARN and FAIL; totals last."""
    width = min(max((len(f.name) for f in report.findings), default=0), NAME_COLUMN)
    lines = [f"posagent doctor: {report.config_path}", ""]
    for finding in report.findings:
        lines.append(f"{finding.status.value:<5} {finding.name:<{width}}  {finding.message}")
        if finding.fix and finding.status is not Status.OK:
            lines.append(f"{'':<5} {'':<{width}}  -> {finding.fix}")
    counts = report.counts()
    lines += ["", ", ".join(f"{counts[s.value]} {s.value}" for s in Status)]
    return "\n".join(lines)
