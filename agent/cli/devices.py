"""`posagent devices`: list serial ports, keyboard-like input devices and cameras on this PC.

Use the stable path (by-id) in the config: it survives replugging and reboots.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agent.cli.common import EXIT_OK, add_output_options
from drivers.discovery import FINDERS, discover


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "devices", help="list scanners, serial ports and cameras (stable paths for the config)", description=__doc__
    )
    parser.add_argument("--kind", action="append", choices=sorted(FINDERS), help="only these kinds (repeatable)")
    add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = discover(kinds=args.kind)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return EXIT_OK
    if not result.devices:
        print("no devices found")
    for device in result.devices:
        print(f"{device.kind:<8} {device.stable_path or device.path}")
        print(f"         {device.name}" + (f" ({device.path})" if device.stable_path else ""))
        extras = ", ".join(f"{k}={v}" for k, v in device.details.items() if v)
        if extras:
            print(f"         {extras}")
    for kind, error in result.errors.items():
        print(f"{kind:<8} could not list: {error}")
    return EXIT_OK
